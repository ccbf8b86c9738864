// Package kind is the cluster provider that runs Kubernetes in containers
// with kind (sigs.k8s.io/kind), on Docker, Podman or nerdctl.
//
// It adds what kind's library leaves to its caller: the container runtime
// is detected and asked whether its daemon answers before anything else;
// creation runs under a deadline (kind's API takes no context) and a
// half-created cluster is deleted when it passes; and envctl's own
// readiness gate replaces kind's wait, which does not fail on timeout.
//
// Kubeconfig: kind writes its usual kind-NAME context only to a file in
// envctl's state directory. The user's kubeconfig gets the envctl-NAME
// context (kubeconfig.ContextName), written by the caller from Kubeconfig,
// so that every provider's clusters are named alike and deleting a cluster
// removes the one context envctl wrote.
package kind

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	kindcluster "sigs.k8s.io/kind/pkg/cluster"

	"github.com/envctl/envctl/internal/cluster"
	"github.com/envctl/envctl/internal/cluster/kubeconfig"
	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/errs"
)

func init() {
	cluster.Register(config.ProviderKind, func(opts cluster.Options) (cluster.Provider, error) {
		return New(opts), nil
	})
}

// probeTimeout bounds how long List waits for each cluster's API server.
const probeTimeout = 3 * time.Second

// Provider manages kind clusters.
type Provider struct {
	opts cluster.Options

	// grace is how long a timed-out create is given to notice that its
	// nodes are gone; tests shorten it.
	grace time.Duration

	mu sync.Mutex
	rt *cluster.Runtime // detected on first use
}

var _ cluster.Provider = (*Provider)(nil)

// New returns a kind provider. It does not look for a container runtime
// until an operation needs one.
func New(opts cluster.Options) *Provider {
	return &Provider{opts: opts, rt: opts.Runtime, grace: 30 * time.Second}
}

// Name returns "kind".
func (p *Provider) Name() string { return config.ProviderKind }

// runtime returns the container runtime, detecting it on first use.
func (p *Provider) runtime(ctx context.Context) (*cluster.Runtime, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.rt != nil {
		return p.rt, nil
	}
	rt, err := cluster.DetectRuntime(ctx, cluster.DetectOptions{})
	if err != nil {
		return nil, errs.Input(fmt.Errorf("provider kind needs a container runtime: %w; start one, or use --provider embedded", err))
	}
	p.opts.Log().Debug("container runtime answered", "runtime", rt.Name, "version", rt.Version, "path", rt.Path)
	p.rt = rt
	return rt, nil
}

// kind returns kind's provider on the detected runtime. Its logger feeds
// progress, which may be nil.
func (p *Provider) kind(ctx context.Context, progress cluster.Progress) (*kindcluster.Provider, *logger, error) {
	rt, err := p.runtime(ctx)
	if err != nil {
		return nil, nil, err
	}
	var opt kindcluster.ProviderOption
	switch rt.Name {
	case cluster.RuntimeDocker:
		opt = kindcluster.ProviderWithDocker()
	case cluster.RuntimePodman:
		opt = kindcluster.ProviderWithPodman()
	case cluster.RuntimeNerdctl:
		opt = kindcluster.ProviderWithNerdctl(rt.Path)
	default:
		return nil, nil, fmt.Errorf("kind does not support container runtime %q", rt.Name)
	}
	l := newLogger(p.opts.Log(), progress)
	return kindcluster.NewProvider(kindcluster.ProviderWithLogger(l), opt), l, nil
}

// Exists reports whether envctl created a kind cluster of this name. It
// reads envctl's state only, so it answers even when the runtime is down.
func (p *Provider) Exists(_ context.Context, name string) (bool, error) {
	r, err := p.readRecord(name)
	return r != nil, err
}

// Ensure creates the kind cluster unless it exists, then waits until it is
// usable. See the package documentation for what happens on a deadline.
func (p *Provider) Ensure(ctx context.Context, spec cluster.Spec) (*cluster.Info, error) {
	if err := cluster.ValidateName(spec.Name); err != nil {
		return nil, err
	}
	cfg, err := ClusterConfig(spec.Name, spec.Cluster.Kind)
	if err != nil {
		return nil, err
	}

	done := spec.Step("Checking container runtime")
	kp, log, err := p.kind(ctx, spec.Progress)
	done(err)
	if err != nil {
		return nil, err
	}
	defer log.detach()

	existing, err := kp.List()
	if err != nil {
		return nil, errs.Cluster(fmt.Errorf("list kind clusters: %w", err))
	}
	rec, err := p.readRecord(spec.Name)
	if err != nil {
		return nil, err
	}
	created := false
	switch {
	case slices.Contains(existing, spec.Name) && rec == nil:
		return nil, errs.Inputf("a kind cluster named %s exists that envctl did not create; choose another name, or delete it with: kind delete cluster --name %s", spec.Name, spec.Name)
	case !slices.Contains(existing, spec.Name):
		if rec != nil {
			p.opts.Log().Info("kind cluster was deleted outside envctl; creating it again", "cluster", spec.Name)
		}
		rec = &record{Name: spec.Name, Runtime: p.rt.Name, Created: time.Now().UTC().Truncate(time.Second)}
		if err := p.create(ctx, kp, log, *rec, cfg); err != nil {
			return nil, err
		}
		created = true
	}

	done = spec.Step("Waiting for nodes Ready and the default ServiceAccount")
	rc, err := p.restConfig(kp, spec.Name)
	if err == nil {
		err = cluster.WaitUsable(ctx, rc)
	}
	done(err)
	if err != nil {
		if created {
			p.cleanup(kp, spec.Name)
			return nil, fmt.Errorf("%w; deleted the kind cluster %s envctl had just created", err, spec.Name)
		}
		return nil, err
	}
	in := p.info(ctx, kp, *rec)
	if !created && in.Nodes != len(cfg.Nodes) {
		// kind cannot add or remove nodes of a running cluster.
		p.opts.Log().Warn("kind cluster has a different number of nodes than declared; delete and create it to apply the change",
			"cluster", spec.Name, "nodes", in.Nodes, "declared", len(cfg.Nodes))
	}
	return in, nil
}

// create runs kind's create under ctx's deadline. The record is written
// first, so that a cluster whose creation envctl did not see through (a
// killed process) can still be deleted with envctl.
func (p *Provider) create(ctx context.Context, kp *kindcluster.Provider, log *logger, rec record, cfg *kindcfg) error {
	if err := p.writeRecord(rec); err != nil {
		return err
	}
	kubeconfigPath, err := p.kindKubeconfig(rec.Name)
	if err != nil {
		return err
	}
	result := make(chan error, 1)
	go func() {
		result <- kp.Create(rec.Name,
			kindcluster.CreateWithV1Alpha4Config(cfg),
			kindcluster.CreateWithKubeconfigPath(kubeconfigPath),
			kindcluster.CreateWithWaitForReady(0),
			kindcluster.CreateWithDisplayUsage(false),
			kindcluster.CreateWithDisplaySalutation(false),
		)
	}()
	select {
	case err := <-result:
		if err != nil {
			// kind deletes what it created when it fails; the record goes too.
			_ = p.removeRecord(rec.Name)
			return errs.Cluster(fmt.Errorf("create kind cluster %s: %w", rec.Name, describe(err)))
		}
		return nil
	case <-ctx.Done():
	}

	// kind cannot be cancelled. Deleting the node containers from under it
	// makes its next step fail; wait a little for it to notice, then delete
	// once more in case it started a container in between.
	log.detach()
	_ = kp.Delete(rec.Name, kubeconfigPath)
	select {
	case <-result:
	case <-time.After(p.grace):
		p.opts.Log().Warn("kind create still running after the deadline", "cluster", rec.Name)
	}
	p.cleanup(kp, rec.Name)
	err = fmt.Errorf("create kind cluster %s: not done when the deadline passed; deleted the half-created cluster: %w", rec.Name, context.Cause(ctx))
	if ctx.Err() == context.DeadlineExceeded {
		return errs.Timeout(err)
	}
	return err
}

// cleanup deletes a cluster envctl created in this call and its record.
func (p *Provider) cleanup(kp *kindcluster.Provider, name string) {
	kubeconfigPath, _ := p.kindKubeconfig(name)
	if err := kp.Delete(name, kubeconfigPath); err != nil {
		p.opts.Log().Warn("could not delete half-created kind cluster; delete it with: kind delete cluster --name "+name, "err", err)
		return
	}
	_ = p.removeRecord(name)
}

// Delete removes a kind cluster envctl created. A kind cluster envctl did
// not create is refused, with the kind command that would delete it.
func (p *Provider) Delete(ctx context.Context, name string) error {
	rec, err := p.readRecord(name)
	if err != nil {
		return err
	}
	if rec == nil {
		if kp, _, err := p.kind(ctx, nil); err == nil {
			if names, err := kp.List(); err == nil && slices.Contains(names, name) {
				return errs.Inputf("kind cluster %s was not created by envctl, which deletes only clusters it created; delete it with: kind delete cluster --name %s", name, name)
			}
		}
		return cluster.NotFound(config.ProviderKind, name)
	}
	kp, log, err := p.kind(ctx, nil)
	if err != nil {
		return fmt.Errorf("delete kind cluster %s: %w", name, err)
	}
	defer log.detach()
	kubeconfigPath, err := p.kindKubeconfig(name)
	if err != nil {
		return err
	}
	if err := kp.Delete(name, kubeconfigPath); err != nil {
		return errs.Cluster(fmt.Errorf("delete kind cluster %s: %w", name, describe(err)))
	}
	return p.removeRecord(name)
}

// List returns the kind clusters envctl created. Without a container
// runtime their status is unknown; a cluster whose containers are gone is
// missing.
func (p *Provider) List(ctx context.Context) ([]cluster.Info, error) {
	recs, err := p.records()
	if err != nil || len(recs) == 0 {
		return nil, err
	}
	kp, log, rtErr := p.kind(ctx, nil)
	var names []string
	if rtErr == nil {
		defer log.detach()
		if names, rtErr = kp.List(); rtErr != nil {
			rtErr = fmt.Errorf("list kind clusters: %w", describe(rtErr))
		}
	}
	out := make([]cluster.Info, 0, len(recs))
	for _, r := range recs {
		switch {
		case rtErr != nil:
			out = append(out, p.base(r, cluster.StatusUnknown, rtErr.Error()))
		case !slices.Contains(names, r.Name):
			out = append(out, p.base(r, cluster.StatusMissing, "its containers are gone; `envctl cluster delete "+r.Name+"` forgets it"))
		default:
			out = append(out, *p.info(ctx, kp, r))
		}
	}
	return out, nil
}

func (p *Provider) base(r record, status, message string) cluster.Info {
	return cluster.Info{
		Name:     r.Name,
		Provider: config.ProviderKind,
		Context:  kubeconfig.ContextName(r.Name),
		Status:   status,
		Message:  message,
		Created:  r.Created,
	}
}

// info asks a cluster's API server for the details Info reports.
func (p *Provider) info(ctx context.Context, kp *kindcluster.Provider, r record) *cluster.Info {
	in := p.base(r, cluster.StatusRunning, "")
	rc, err := p.restConfig(kp, r.Name)
	if err != nil {
		in.Status, in.Message = cluster.StatusStopped, err.Error()
		return &in
	}
	in.Server = rc.Host
	in.Version, in.Nodes, err = cluster.Probe(ctx, rc, probeTimeout)
	if err != nil {
		in.Status, in.Message = cluster.StatusStopped, err.Error()
	}
	return &in
}

// RESTConfig returns an admin client configuration for the cluster.
func (p *Provider) RESTConfig(ctx context.Context, name string) (*rest.Config, error) {
	if err := p.mustExist(name); err != nil {
		return nil, err
	}
	kp, log, err := p.kind(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer log.detach()
	return p.restConfig(kp, name)
}

func (p *Provider) restConfig(kp *kindcluster.Provider, name string) (*rest.Config, error) {
	data, err := kp.KubeConfig(name, false)
	if err != nil {
		return nil, errs.Cluster(fmt.Errorf("kubeconfig of kind cluster %s: %w", name, describe(err)))
	}
	rc, err := clientcmd.RESTConfigFromKubeConfig([]byte(data))
	if err != nil {
		return nil, fmt.Errorf("kubeconfig of kind cluster %s: %w", name, err)
	}
	return rc, nil
}

// Kubeconfig returns a kubeconfig for the cluster whose context is named
// kubeconfig.ContextName(name).
func (p *Provider) Kubeconfig(ctx context.Context, name string) ([]byte, error) {
	if err := p.mustExist(name); err != nil {
		return nil, err
	}
	kp, log, err := p.kind(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer log.detach()
	data, err := kp.KubeConfig(name, false)
	if err != nil {
		return nil, errs.Cluster(fmt.Errorf("kubeconfig of kind cluster %s: %w", name, describe(err)))
	}
	return kubeconfig.ForCluster([]byte(data), name)
}

func (p *Provider) mustExist(name string) error {
	ok, err := p.Exists(context.Background(), name)
	if err != nil {
		return err
	}
	if !ok {
		return cluster.NotFound(config.ProviderKind, name)
	}
	return nil
}
