package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/envctl/envctl/internal/cluster"
	"github.com/envctl/envctl/internal/cluster/kubeconfig"
	"github.com/envctl/envctl/internal/config"
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

// provider returns the provider that has the cluster (see
// cluster.FindProvider).
func (n *namedCluster) provider(ctx context.Context, f *Factory) (cluster.Provider, error) {
	d, err := cluster.LoadDeclared(f.Global.Repo, n.Env, f.Logger)
	if err != nil {
		return nil, err
	}
	return cluster.FindProvider(ctx, n.Provider, n.Name, d.Options(f.clusterOptions()))
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

// bindSetContext adds --set-context, with which the commands that write a
// context choose whether it becomes current. Left out, the kubeconfig rules
// decide (the context becomes current only when the kubeconfig has none);
// given, it forces the choice either way.
func bindSetContext(fs *pflag.FlagSet, c *kubeconfig.Current, usage string) {
	fs.Var(c, "set-context", usage)
	fs.Lookup("set-context").NoOptDefVal = "true"
}

// providerFlagHelp is the --provider flag's description.
var providerFlagHelp = "cluster provider: " + strings.Join(config.Providers, ", ")
