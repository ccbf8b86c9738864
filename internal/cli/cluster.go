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
	"github.com/envctl/envctl/internal/ui"
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
removes it from each file it wrote it to when it deletes the cluster.`,
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
		newClusterLoadCmd(f),
		newClusterServeCmd(f),
		newClusterPruneCmd(f),
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
	p, _, err := cluster.FindForEnv(ctx, f.Global.Repo, n.Env, n.Provider, n.Name, f.clusterOptions(), f.Logger)
	return p, err
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

// clusterDeleteOptions are the inputs of `envctl cluster delete`.
type clusterDeleteOptions struct {
	namedCluster
	Kubeconfig string
}

func newClusterDeleteCmd(f *Factory) *cobra.Command {
	o := &clusterDeleteOptions{}
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a cluster envctl created",
		Long: `Delete a cluster envctl created, everything envctl kept for it, and its
context (kind-NAME for kind, envctl-NAME for embedded) in the kubeconfig
files envctl wrote it to, unsetting current-context when it named it.

envctl deletes only clusters it created: not an existing cluster, and not a
kind cluster made with the kind CLI. The provider that has NAME is found
unless --provider says which.`,
		Example: `  # Delete a cluster, whichever provider has it
  envctl cluster delete envctl-local

  # The same, naming the cluster with a flag
  envctl cluster delete --name scratch --provider kind`,
		Args: argsValidator(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.setName(cmd, args, "name the cluster to delete: envctl cluster delete NAME"); err != nil {
				return err
			}
			return runClusterDelete(cmd.Context(), f, o)
		},
	}
	fl := cmd.Flags()
	o.namedCluster.bind(fl)
	fl.StringVar(&o.Kubeconfig, "kubeconfig", "", "also remove the context from this kubeconfig file (default: only from the files envctl wrote it to; for a cluster without that record, kubectl's: the files of $KUBECONFIG, else ~/.kube/config)")
	return cmd
}

func runClusterDelete(ctx context.Context, f *Factory, o *clusterDeleteOptions) error {
	p, err := o.provider(ctx, f)
	if err != nil {
		return err
	}
	progress := newProgress(f)
	defer progress.Close()
	if err := cluster.Delete(ctx, p, o.Name, o.Kubeconfig, progress); err != nil {
		return err
	}
	progress.Close()
	fmt.Fprintf(f.Streams.Out, "Deleted cluster %s (%s).\n", o.Name, p.Name())
	return nil
}

// clusterKubeconfigOptions are the inputs of `envctl cluster kubeconfig`.
type clusterKubeconfigOptions struct {
	namedCluster
	Internal   bool
	Print      bool
	Write      bool
	Kubeconfig string
	SetContext kubeconfig.Current
}

func newClusterKubeconfigCmd(f *Factory) *cobra.Command {
	o := &clusterKubeconfigOptions{}
	cmd := &cobra.Command{
		Use:   "kubeconfig NAME",
		Short: "Write a cluster's context into your kubeconfig, or print it",
		Long: `Write the cluster's context (kind-NAME for a kind cluster, envctl-NAME for an
embedded one) into your kubeconfig (--write, the default), for instance after
the file was replaced, or print a kubeconfig holding only that context
(--print).

The printed kubeconfig holds the cluster's credentials: envctl prints it only
when asked with --print.`,
		Example: `  # Restore the context of a cluster in ~/.kube/config
  envctl cluster kubeconfig envctl-local

  # A kubeconfig file of its own for a CI job
  envctl cluster kubeconfig --name envctl-ci --print > "$RUNNER_TEMP/kubeconfig"

  # For a job in a container on kind's network (docker run --network kind)
  envctl cluster kubeconfig envctl-ci --internal > kubeconfig-internal`,
		Args: argsValidator(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.setName(cmd, args, "name the cluster: envctl cluster kubeconfig NAME"); err != nil {
				return err
			}
			if o.Print && o.Write || o.Internal && o.Write {
				return usageError(fmt.Errorf("--write excludes --print and --internal"))
			}
			return runClusterKubeconfig(cmd.Context(), f, o)
		},
	}
	fl := cmd.Flags()
	o.namedCluster.bind(fl)
	fl.BoolVar(&o.Write, "write", false, "merge the context into the kubeconfig file (the default)")
	fl.BoolVar(&o.Print, "print", false, "print a kubeconfig with only this cluster's context, credentials included")
	fl.BoolVar(&o.Internal, "internal", false, "print the kubeconfig containers on the kind network use (server https://NAME-control-plane:6443)")
	fl.StringVar(&o.Kubeconfig, "kubeconfig", "", kubeconfigWriteUsage)
	bindSetContext(fl, &o.SetContext, "make the context the current one (default: only when the kubeconfig has no current context)")
	return cmd
}

func runClusterKubeconfig(ctx context.Context, f *Factory, o *clusterKubeconfigOptions) error {
	p, err := o.provider(ctx, f)
	if err != nil {
		return err
	}
	if o.Print || o.Internal {
		data, err := p.Kubeconfig(ctx, o.Name)
		if o.Internal {
			data, err = cluster.InternalKubeconfig(ctx, p, o.Name)
		}
		if err != nil {
			return err
		}
		_, err = f.Streams.Out.Write(data)
		return err
	}
	if p.Name() == config.ProviderExisting {
		return usageError(fmt.Errorf("cluster %s is an existing cluster: its context is already in your kubeconfig; use --print for a file of its own", o.Name))
	}
	w, err := cluster.WriteKubeconfig(ctx, p, o.Name, kubeconfig.WriteOptions{Path: o.Kubeconfig, Current: o.SetContext})
	if err != nil {
		return err
	}
	ui.WriteContextWritten(f.Streams.Out, w)
	return nil
}
