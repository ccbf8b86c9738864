// Package existing is the cluster provider for clusters envctl did not
// create: a context of a kubeconfig, or the in-cluster configuration of the
// pod envctl runs in (the daemon). It checks that the API server answers,
// and it never creates or deletes a cluster.
package existing

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/envctl/envctl/internal/cluster"
	"github.com/envctl/envctl/internal/cluster/kubeconfig"
	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/errs"
)

func init() {
	cluster.Register(config.ProviderExisting, func(opts cluster.Options) (cluster.Provider, error) {
		return New(opts), nil
	})
}

// checkTimeout bounds the check that the API server answers, so that an
// unreachable server (a VPN that is down) fails in seconds, not minutes.
const checkTimeout = 10 * time.Second

// Provider reaches one existing cluster.
type Provider struct {
	opts cluster.Options
	// target is the cluster configured in Options or given to Ensure.
	target *cluster.ExistingTarget
	// inCluster replaces rest.InClusterConfig in tests.
	inCluster func() (*rest.Config, error)
}

var _ cluster.Provider = (*Provider)(nil)

// New returns a provider for opts.Existing, or, when that is nil, for
// whatever cluster a later Ensure names.
func New(opts cluster.Options) *Provider {
	return &Provider{opts: opts, target: opts.Existing, inCluster: rest.InClusterConfig}
}

// Name returns "existing".
func (p *Provider) Name() string { return config.ProviderExisting }

// Ensure checks that the cluster answers and reports its version. The
// environment's existing section, when set, says where the cluster is;
// otherwise the provider's configured target, otherwise the current
// context of the default kubeconfig.
func (p *Provider) Ensure(ctx context.Context, spec cluster.Spec) (*cluster.Info, error) {
	if err := cluster.ValidateName(spec.Name); err != nil {
		return nil, err
	}
	t := &cluster.ExistingTarget{Name: spec.Name}
	switch {
	case spec.Cluster.Existing != nil:
		t.ExistingSpec = *spec.Cluster.Existing
	case p.target != nil:
		t.ExistingSpec = p.target.ExistingSpec
	}
	done := spec.Step("Connecting to " + describe(t))
	in, err := p.check(ctx, t)
	done(err)
	if err != nil {
		return nil, err
	}
	p.target = t
	return in, nil
}

// check connects to t and returns its Info, or an error naming where the
// cluster was looked for.
func (p *Provider) check(ctx context.Context, t *cluster.ExistingTarget) (*cluster.Info, error) {
	rc, ctxName, err := p.restConfig(t)
	if err != nil {
		return nil, err
	}
	in := &cluster.Info{Name: t.Name, Provider: config.ProviderExisting, Context: ctxName, Server: rc.Host, Status: cluster.StatusRunning}
	in.Version, in.Nodes, err = cluster.Probe(ctx, rc, checkTimeout)
	if err != nil {
		return nil, errs.Cluster(fmt.Errorf("cluster %s (%s) does not answer: %w", t.Name, describe(t), err))
	}
	return in, nil
}

// restConfig resolves t to a client configuration and the context name.
func (p *Provider) restConfig(t *cluster.ExistingTarget) (*rest.Config, string, error) {
	if t.InCluster {
		rc, err := p.inCluster()
		if err != nil {
			return nil, "", errs.Input(fmt.Errorf("cluster %s: in-cluster configuration: %w", t.Name, err))
		}
		return rc, "", nil
	}
	sel, err := kubeconfig.Load(expandHome(t.Kubeconfig), t.Context)
	if err != nil {
		return nil, "", fmt.Errorf("cluster %s: %w", t.Name, err)
	}
	rc, err := sel.RESTConfig()
	if err != nil {
		return nil, "", fmt.Errorf("cluster %s: %w", t.Name, err)
	}
	return rc, sel.Context, nil
}

// describe says where a target is, for messages.
func describe(t *cluster.ExistingTarget) string {
	switch {
	case t.InCluster:
		return "in-cluster configuration"
	case t.Kubeconfig != "" && t.Context != "":
		return fmt.Sprintf("context %s of %s", t.Context, t.Kubeconfig)
	case t.Kubeconfig != "":
		return "current context of " + t.Kubeconfig
	case t.Context != "":
		return "context " + t.Context + " of the default kubeconfig"
	}
	return "current context of the default kubeconfig"
}

// Delete always fails: envctl deletes only clusters it created.
func (p *Provider) Delete(_ context.Context, name string) error {
	if !p.has(name) {
		return cluster.NotFound(config.ProviderExisting, name)
	}
	return errs.Inputf("cluster %s is an existing cluster (%s); envctl does not delete clusters it did not create", name, describe(p.target))
}

// List returns the configured cluster, if any, with its status.
func (p *Provider) List(ctx context.Context) ([]cluster.Info, error) {
	if p.target == nil {
		return nil, nil
	}
	in, err := p.check(ctx, p.target)
	if err != nil {
		in = &cluster.Info{Name: p.target.Name, Provider: config.ProviderExisting, Context: p.target.Context, Status: cluster.StatusUnknown, Message: err.Error()}
	}
	return []cluster.Info{*in}, nil
}

// Exists reports whether name is the configured cluster. It does not ask
// the server: a configured cluster that is down still exists.
func (p *Provider) Exists(_ context.Context, name string) (bool, error) {
	return p.has(name), nil
}

func (p *Provider) has(name string) bool { return p.target != nil && p.target.Name == name }

// RESTConfig returns the client configuration of the configured cluster.
func (p *Provider) RESTConfig(_ context.Context, name string) (*rest.Config, error) {
	if !p.has(name) {
		return nil, cluster.NotFound(config.ProviderExisting, name)
	}
	rc, _, err := p.restConfig(p.target)
	return rc, err
}

// Kubeconfig returns a self-contained kubeconfig holding only the
// configured context. For in-cluster configuration it refers to the pod's
// token and CA files rather than copying the token into the file.
func (p *Provider) Kubeconfig(_ context.Context, name string) ([]byte, error) {
	if !p.has(name) {
		return nil, cluster.NotFound(config.ProviderExisting, name)
	}
	t := p.target
	if !t.InCluster {
		sel, err := kubeconfig.Load(expandHome(t.Kubeconfig), t.Context)
		if err != nil {
			return nil, fmt.Errorf("cluster %s: %w", name, err)
		}
		return sel.Minified()
	}
	rc, _, err := p.restConfig(t)
	if err != nil {
		return nil, err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[name] = &clientcmdapi.Cluster{Server: rc.Host, CertificateAuthority: rc.CAFile, CertificateAuthorityData: rc.CAData}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{TokenFile: rc.BearerTokenFile}
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	cfg.CurrentContext = name
	return clientcmd.Write(*cfg)
}

// expandHome expands a leading ~/ as a shell would: environment files are
// shared between people, and ~/.kube/prod is how they name a kubeconfig.
func expandHome(path string) string {
	rest, ok := strings.CutPrefix(path, "~/")
	if !ok {
		return path
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return path
	}
	return filepath.Join(home, rest)
}
