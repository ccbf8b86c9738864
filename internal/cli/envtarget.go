package cli

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/envctl/envctl/internal/cluster"
	"github.com/envctl/envctl/internal/cluster/kubeconfig"
	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/kube"
)

// clusterFlags point a command at a cluster through a kubeconfig instead of
// the environment's own cluster. Used by diff, status and down.
type clusterFlags struct {
	Kubeconfig string
	Context    string
}

func (c *clusterFlags) bind(fs *pflag.FlagSet) {
	fs.StringVar(&c.Kubeconfig, "kubeconfig", "", "use the cluster of this kubeconfig file instead of the environment's own cluster")
	fs.StringVar(&c.Context, "context", "", "kubeconfig context to use (with or without --kubeconfig)")
}

func (c clusterFlags) set() bool { return c.Kubeconfig != "" || c.Context != "" }

// envTarget is an environment and the cluster it lives on, resolved the
// same way by every command that reads or changes an environment's cluster.
type envTarget struct {
	repo *config.Repo
	env  *config.Environment
	// clusterName is the environment's cluster name.
	clusterName string
	// provider has the cluster; nil when the flags named a kubeconfig, in
	// which case envctl must never delete the cluster.
	provider cluster.Provider
	client   *kube.Client
}

// errNoCluster is returned by connect when the environment's cluster does
// not exist; commands decide whether that is an error.
type errNoCluster struct {
	env, cluster string
	err          error
}

func (e *errNoCluster) Error() string {
	return fmt.Sprintf("environment %s: its cluster %s does not exist (bring it up with `envctl up %s`): %v", e.env, e.cluster, e.env, e.err)
}

func (e *errNoCluster) Unwrap() error { return e.err }

// connect reaches the environment's cluster, or the one the flags name. It
// never creates a cluster.
func connect(ctx context.Context, f *Factory, repo *config.Repo, env *config.Environment, flags clusterFlags) (*envTarget, error) {
	t := &envTarget{repo: repo, env: env, clusterName: env.ClusterName()}
	if flags.set() {
		cfg, err := kubeconfig.RESTConfig(flags.Kubeconfig, flags.Context)
		if err != nil {
			return nil, err
		}
		if t.client, err = kube.New(cfg); err != nil {
			return nil, errs.Cluster(err)
		}
		return t, nil
	}
	spec := env.Spec.Cluster
	opts := cluster.Options{Logger: f.Logger}
	if spec.Existing != nil {
		opts.Existing = &cluster.ExistingTarget{Name: t.clusterName, ExistingSpec: *spec.Existing}
	}
	sel, err := cluster.Select(ctx, spec.Provider, t.clusterName, opts)
	if err != nil {
		return nil, err
	}
	t.provider = sel.Provider
	cfg, err := sel.Provider.RESTConfig(ctx, t.clusterName)
	if cluster.IsNotFound(err) {
		return t, &errNoCluster{env: env.Name(), cluster: t.clusterName, err: err}
	}
	if err != nil {
		return nil, fmt.Errorf("environment %s: cluster %s: %w", env.Name(), t.clusterName, err)
	}
	if t.client, err = kube.New(cfg); err != nil {
		return nil, errs.Cluster(err)
	}
	return t, nil
}

// createdByEnvctl reports whether envctl made the target's cluster and so
// may delete it: an embedded or kind cluster, never an existing one or one
// reached through --kubeconfig.
func (t *envTarget) createdByEnvctl() bool {
	if t.provider == nil {
		return false
	}
	switch t.provider.Name() {
	case config.ProviderEmbedded, config.ProviderKind:
		return true
	}
	return false
}
