package cli

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/envctl/envctl/internal/cluster"
	"github.com/envctl/envctl/internal/cluster/kubeconfig"
	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/errs"
)

// newClusterCmd groups the commands that manage clusters on their own,
// apart from the environments that run on them.
func newClusterCmd(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Create, list and delete clusters",
		Long: `Create, list and delete the clusters environments run on.

Providers:
  embedded  a Kubernetes control plane run by envctl itself, with simulated
            nodes; needs no container runtime
  kind      Kubernetes in containers, on Docker, Podman or nerdctl
  existing  a cluster envctl did not create, from a kubeconfig context or
            in-cluster configuration; envctl never deletes it
  auto      the provider that already has the named cluster, else kind when
            a container runtime answers, else embedded

envctl writes one kubeconfig context per cluster it creates, named
envctl-NAME (a NAME already starting with envctl- is used as is), and
removes it when it deletes the cluster.`,
		Args: argsValidator(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(
		newClusterCreateCmd(f),
		newClusterDeleteCmd(f),
		newClusterListCmd(f),
		newClusterKubeconfigCmd(f),
		newClusterServeCmd(f),
	)
	return cmd
}

// clusterTarget is what the cluster commands take from an environment:
// the cluster's name, its spec, and how to reach an existing one.
type clusterTarget struct {
	// Env is the environment the spec came from; "" when none was used.
	Env  string
	Name string
	Spec config.ClusterSpec
}

// namedCluster are the inputs of the commands that act on one cluster
// envctl already has (delete, kubeconfig): its name, the provider that has
// it, and the environment that declares it.
type namedCluster struct {
	Name     string
	Provider string
	Env      string
}

func (n *namedCluster) bind(fl *pflag.FlagSet) {
	fl.StringVar(&n.Name, "name", "", "cluster name (instead of the NAME argument)")
	fl.StringVar(&n.Provider, "provider", "", providerFlagHelp+" (default: whichever has the cluster)")
	fl.StringVarP(&n.Env, "env", "e", "", "environment that declares the cluster, for clusters of provider existing")
}

// setName takes the cluster's name from the NAME argument or --name. When
// neither gives one, the usage error starts with missing ("name the
// cluster: envctl cluster kubeconfig NAME").
func (n *namedCluster) setName(cmd *cobra.Command, args []string, missing string) error {
	name, err := clusterNameArg(args, n.Name)
	if err != nil {
		return err
	}
	if name == "" {
		return usageError(fmt.Errorf("%s\nSee '%s --help'", missing, cmd.CommandPath()))
	}
	n.Name = name
	return nil
}

// provider returns the provider that has the cluster (see findProvider).
func (n *namedCluster) provider(ctx context.Context, f *Factory) (cluster.Provider, error) {
	t, err := loadClusterTarget(f, n.Env, nil)
	if err != nil {
		return nil, err
	}
	return findProvider(ctx, n.Provider, n.Name, providerOptions(f, t))
}

// kubeconfigPath is the --kubeconfig flag's file, or the user's default
// kubeconfig when the flag is empty.
func kubeconfigPath(flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	return kubeconfig.DefaultPath()
}

// clusterNameArg reads a cluster name given as the positional NAME or as
// --name; giving two different names is bad input.
func clusterNameArg(args []string, flag string) (string, error) {
	switch {
	case len(args) == 1 && flag != "" && args[0] != flag:
		return "", usageError(fmt.Errorf("the cluster is named twice: %q as the argument and %q with --name; give one", args[0], flag))
	case len(args) == 1:
		return args[0], nil
	}
	return flag, nil
}

// loadClusterTarget finds the cluster an environment declares. With env
// set, the repository and that environment must load. Without it, the
// repository's default environment is used when there is a repository and
// that environment exists; otherwise the target is empty and callers use
// defaults, so that the cluster commands work outside any repository.
func loadClusterTarget(f *Factory, env string, fs *pflag.FlagSet) (*clusterTarget, error) {
	repo, err := config.Load(config.LoadOptions{Dir: f.Global.Repo, Flags: fs})
	if err != nil {
		if env == "" && f.Global.Repo == "" && noRepository(err) {
			f.Logger.Debug("no repository; using default cluster settings", "reason", err)
			return &clusterTarget{}, nil
		}
		return nil, err
	}
	if env == "" {
		names, err := repo.EnvironmentNames()
		if err != nil {
			return nil, err
		}
		if !slices.Contains(names, repo.Config.Spec.DefaultEnvironment) {
			return &clusterTarget{}, nil
		}
	}
	e, err := repo.Environment(env)
	if err != nil {
		return nil, err
	}
	return &clusterTarget{Env: e.Name(), Name: e.ClusterName(), Spec: e.Spec.Cluster}, nil
}

// noRepository recognises config.Load's error for a directory with no
// envctl repository above it, the one case in which the cluster commands
// fall back to defaults rather than fail.
func noRepository(err error) bool {
	return errs.KindOf(err) == errs.KindInput && strings.HasPrefix(err.Error(), "no envctl repository found")
}

// providerOptions are the options every provider is built with.
func providerOptions(f *Factory, t *clusterTarget) cluster.Options {
	opts := cluster.Options{Logger: f.Logger}
	if t.Spec.Existing != nil && t.Name != "" {
		opts.Existing = &cluster.ExistingTarget{Name: t.Name, ExistingSpec: *t.Spec.Existing}
	}
	return opts
}

// findProvider returns the provider that has cluster name: whichever has
// it, or the one --provider names, which then answers for the cluster
// itself (its errors say more than "not found", for instance that a kind
// cluster exists but was made with the kind CLI).
func findProvider(ctx context.Context, provider, name string, opts cluster.Options) (cluster.Provider, error) {
	if provider == "" || provider == config.ProviderAuto {
		return cluster.Find(ctx, name, opts)
	}
	return cluster.New(provider, opts)
}

// providerFlagHelp is the --provider flag's description.
var providerFlagHelp = "cluster provider: " + strings.Join(config.Providers, ", ")
