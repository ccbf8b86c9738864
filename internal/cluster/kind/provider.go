// Package kind is the cluster provider that runs Kubernetes in containers
// with kind (sigs.k8s.io/kind), on Docker, Podman or nerdctl.
//
// It adds what kind's library leaves to its caller: the container runtime
// is detected and asked whether its daemon answers before anything else,
// and a cluster stays on the runtime it was created on; creation runs
// under a deadline (kind's API takes no context) and a half-created
// cluster is deleted when it passes; envctl's own readiness gate replaces
// kind's wait, which does not fail on timeout; a cluster whose containers
// stopped (a reboot) is started again; one process at a time ensures a
// cluster (a file lock); an ownership marker in the cluster lets a lost
// record be recovered (--adopt); and a local registry, registry mirrors
// and the host's registry logins are wired into the nodes' containerd.
//
// Kubeconfig: kind writes its usual kind-NAME context only to a file in
// envctl's state directory. The user's kubeconfig gets the same kind-NAME
// context (kubeconfig.KindContextName), written by the caller from Kubeconfig,
// so that every provider's clusters are named alike and deleting a cluster
// removes the one context envctl wrote.
package kind

import (
	"context"
	"fmt"
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

	// creates counts kind creates still running, which may outlive a
	// timed-out Ensure; tests wait for them.
	creates sync.WaitGroup
}

var (
	_ cluster.Provider             = (*Provider)(nil)
	_ cluster.InternalKubeconfiger = (*Provider)(nil)
	_ cluster.ImageLoader          = (*Provider)(nil)
)

// New returns a kind provider. It does not look for a container runtime
// until an operation needs one.
func New(opts cluster.Options) *Provider {
	return &Provider{opts: opts, rt: opts.Runtime, grace: 30 * time.Second}
}

// Name returns "kind".
func (p *Provider) Name() string { return config.ProviderKind }

// runtime returns the container runtime a new cluster goes on: the one
// auto found, else the first that answers in kind's order.
func (p *Provider) runtime(ctx context.Context) (*cluster.Runtime, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.rt != nil {
		return p.rt, nil
	}
	rt, err := cluster.DetectRuntime(ctx, cluster.DetectOptions{Logger: p.opts.Log()})
	if err != nil {
		return nil, errs.Input(fmt.Errorf("provider kind needs a container runtime: %w; start one, or use the embedded cluster (spec.cluster.provider: embedded)", err))
	}
	p.opts.Log().Debug("container runtime answered", "runtime", rt.Client(), "version", rt.Version, "path", rt.Path)
	p.rt = rt
	return rt, nil
}

// startHints say how to start each runtime's daemon.
var startHints = map[string]string{
	"docker":       "start Docker Desktop, or `sudo systemctl start docker`",
	"podman":       "`podman machine start`",
	"nerdctl":      "`sudo systemctl start containerd`",
	"finch":        "`finch vm start`",
	"nerdctl.lima": "`limactl start`",
}

// runtimeFor returns the runtime of cluster name: the one its record says
// it was created on, which must answer (a second runtime that answers
// meanwhile would otherwise get a second cluster, orphaning the first),
// or for a cluster without a record the one a new cluster goes on.
func (p *Provider) runtimeFor(ctx context.Context, name string, rec *record) (*cluster.Runtime, error) {
	if rec == nil || rec.Runtime == "" {
		return p.runtime(ctx)
	}
	p.mu.Lock()
	rt := p.rt
	p.mu.Unlock()
	if rt != nil && rt.Client() == rec.Runtime {
		return rt, nil
	}
	rt, err := cluster.DetectRuntime(ctx, cluster.DetectOptions{Runtimes: []string{rec.Runtime}})
	if err != nil {
		return nil, errs.Cluster(fmt.Errorf("kind cluster %s runs on %s, which does not answer (%v); %s, then run again", name, rec.Runtime, err, startHints[rec.Runtime]))
	}
	return rt, nil
}

// kind returns kind's provider on runtime rt. Its logger feeds progress,
// which may be nil.
func (p *Provider) kind(rt *cluster.Runtime, progress cluster.Progress) (*kindcluster.Provider, *logger, error) {
	var opt kindcluster.ProviderOption
	switch rt.Name {
	case cluster.RuntimeDocker:
		opt = kindcluster.ProviderWithDocker()
	case cluster.RuntimePodman:
		opt = kindcluster.ProviderWithPodman()
	case cluster.RuntimeNerdctl:
		opt = kindcluster.ProviderWithNerdctl(rt.Client())
	default:
		return nil, nil, fmt.Errorf("kind does not support container runtime %q", rt.Name)
	}
	l := newLogger(p.opts.Log(), progress)
	return kindcluster.NewProvider(kindcluster.ProviderWithLogger(l), opt), l, nil
}

// reach returns kind's provider and the runtime for a cluster envctl has
// a record of, for the operations on an existing cluster.
func (p *Provider) reach(ctx context.Context, name string) (*kindcluster.Provider, *cluster.Runtime, *logger, error) {
	rec, err := p.readRecord(name)
	if err != nil {
		return nil, nil, nil, err
	}
	if rec == nil {
		return nil, nil, nil, cluster.NotFound(config.ProviderKind, name)
	}
	rt, err := p.runtimeFor(ctx, name, rec)
	if err != nil {
		return nil, nil, nil, err
	}
	kp, log, err := p.kind(rt, nil)
	return kp, rt, log, err
}

// Exists reports whether envctl created a kind cluster of this name. It
// reads envctl's state only, so it answers even when the runtime is down.
func (p *Provider) Exists(_ context.Context, name string) (bool, error) {
	r, err := p.readRecord(name)
	return r != nil, err
}

// Delete removes a kind cluster envctl created, on the runtime it was
// created on. A kind cluster envctl did not create is refused, with the
// kind command that would delete it. The local registry is kept: other
// clusters may use it, and its images serve the next cluster.
func (p *Provider) Delete(ctx context.Context, name string) error {
	unlock, err := p.lock(ctx, name, nil)
	if err != nil {
		return err
	}
	defer unlock()
	rec, err := p.readRecord(name)
	if err != nil {
		return err
	}
	if rec == nil {
		if rt, err := p.runtime(ctx); err == nil {
			if names, err := containerNames(ctx, rt, name); err == nil && len(names) > 0 {
				return errs.Inputf("kind cluster %s was not created by envctl, which deletes only clusters it created; delete it with: kind delete cluster --name %s", name, name)
			}
		}
		return cluster.NotFound(config.ProviderKind, name)
	}
	rt, err := p.runtimeFor(ctx, name, rec)
	if err != nil {
		return fmt.Errorf("delete kind cluster %s: %w", name, err)
	}
	kp, log, err := p.kind(rt, nil)
	if err != nil {
		return err
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

// List returns the kind clusters envctl created, each asked on its own
// runtime. Without that runtime their status is unknown; a cluster whose
// containers are gone is missing; one whose containers are stopped is
// stopped.
func (p *Provider) List(ctx context.Context) ([]cluster.Info, error) {
	recs, err := p.records()
	if err != nil || len(recs) == 0 {
		return nil, err
	}
	out := make([]cluster.Info, 0, len(recs))
	for _, r := range recs {
		rt, err := p.runtimeFor(ctx, r.Name, &r)
		if err != nil {
			out = append(out, p.base(r, cluster.StatusUnknown, err.Error()))
			continue
		}
		cs, err := listContainers(ctx, rt, r.Name)
		switch {
		case err != nil:
			out = append(out, p.base(r, cluster.StatusUnknown, err.Error()))
		case len(cs) == 0:
			out = append(out, p.base(r, cluster.StatusMissing, "its containers are gone; `envctl cluster delete "+r.Name+"` forgets it"))
		case len(stopped(cs)) > 0:
			out = append(out, p.base(r, cluster.StatusStopped, stoppedMessage(r.Name, cs)))
		default:
			kp, log, err := p.kind(rt, nil)
			if err != nil {
				return nil, err
			}
			out = append(out, *p.info(ctx, kp, r))
			log.detach()
		}
	}
	return out, nil
}

func (p *Provider) base(r record, status, message string) cluster.Info {
	return cluster.Info{
		Name:     r.Name,
		Provider: config.ProviderKind,
		Context:  kubeconfig.KindContextName(r.Name),
		Status:   status,
		Message:  message,
		Created:  r.Created,
		Registry: r.Registry,
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

// RESTConfig returns an admin client configuration for the cluster. A
// cluster whose containers are stopped is an error that says how to start
// it.
func (p *Provider) RESTConfig(ctx context.Context, name string) (*rest.Config, error) {
	kp, rt, log, err := p.reach(ctx, name)
	if err != nil {
		return nil, err
	}
	defer log.detach()
	rc, err := p.restConfig(kp, name)
	if err != nil {
		return nil, p.whyUnreachable(ctx, rt, name, err)
	}
	return rc, nil
}

// whyUnreachable explains a failure to read a cluster's kubeconfig: its
// containers are stopped, or gone.
func (p *Provider) whyUnreachable(ctx context.Context, rt *cluster.Runtime, name string, err error) error {
	cs, lerr := listContainers(ctx, rt, name)
	switch {
	case lerr != nil:
		return err
	case len(cs) == 0:
		return errs.Cluster(fmt.Errorf("kind cluster %s has no containers on %s (deleted outside envctl); `envctl cluster delete %s` forgets it", name, rt.Client(), name))
	case len(stopped(cs)) > 0:
		return errs.Cluster(fmt.Errorf("%s", stoppedMessage(name, cs)))
	}
	return err
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
// kubeconfig.KindContextName(name), as kind names it.
func (p *Provider) Kubeconfig(ctx context.Context, name string) ([]byte, error) {
	return p.kubeconfig(ctx, name, false)
}

// InternalKubeconfig returns the kubeconfig a container on kind's network
// uses: its server is the control plane's container by name
// (https://NAME-control-plane:6443), not a port on the host's loopback.
func (p *Provider) InternalKubeconfig(ctx context.Context, name string) ([]byte, error) {
	return p.kubeconfig(ctx, name, true)
}

func (p *Provider) kubeconfig(ctx context.Context, name string, internal bool) ([]byte, error) {
	kp, rt, log, err := p.reach(ctx, name)
	if err != nil {
		return nil, err
	}
	defer log.detach()
	data, err := kp.KubeConfig(name, internal)
	if err != nil {
		return nil, p.whyUnreachable(ctx, rt, name, errs.Cluster(fmt.Errorf("kubeconfig of kind cluster %s: %w", name, describe(err))))
	}
	return kubeconfig.Named([]byte(data), kubeconfig.KindContextName(name))
}
