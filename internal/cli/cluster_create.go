package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/envctl/envctl/internal/cluster"
	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/ui"
)

// clusterCreateOptions are the inputs of `envctl cluster create`.
type clusterCreateOptions struct {
	Name, Provider, Env, Output string
	Registry                    bool
	// create takes --wait, --adopt, --kubeconfig and --set-context as they are.
	create cluster.CreateOptions
}

func newClusterCreateCmd(f *Factory) *cobra.Command {
	o := &clusterCreateOptions{}
	cmd := &cobra.Command{
		Use:   "create [NAME]",
		Short: "Create a cluster, or check that it is up",
		Long: `Create a cluster unless it exists, wait until it is usable (every node
Ready, the default ServiceAccount created), and write its context, envctl-NAME,
into your kubeconfig. The context becomes kubectl's current context when the
kubeconfig has none; a current context you chose is left alone, and the
summary says how to switch (--set-context forces either way).

The cluster's name, provider and nodes come from an environment: the one
named by --env, or the repository's default environment when there is a
repository and that environment exists. Flags override it. Outside a
repository the cluster is called envctl-local and gets one node.

A kind cluster whose containers are stopped (after a reboot) is started
again and waited for. With provider existing nothing is created: envctl
checks that the cluster answers and reports its version.`,
		Example: `  # A cluster for the default environment, on kind or the embedded provider
  envctl cluster create

  # A kind cluster of your own with a local registry, given at most five minutes
  envctl cluster create scratch --provider kind --registry --cluster-timeout 5m

  # Take back a kind cluster envctl created after its state directory was lost
  envctl cluster create envctl-local --adopt

  # The cluster the ci environment declares, printed as JSON
  envctl cluster create --env ci -o json

  # Make the new context current even though another one is
  envctl cluster create dev --set-context`,
		Args: argsValidator(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := clusterNameArg(args, o.Name)
			if err != nil {
				return err
			}
			o.Name = name
			return runClusterCreate(cmd.Context(), f, o, cmd)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.Name, "name", "", "cluster name (instead of the NAME argument)")
	fl.StringVar(&o.Provider, "provider", "", providerFlagHelp+" (default: the environment's, else auto)")
	fl.StringVarP(&o.Env, "env", "e", "", "environment whose cluster to create (default: the repository's default environment, if any)")
	config.BindFlags(fl, clusterSettings...)
	fl.DurationVar(&o.create.Timeout, "wait", 0, "the same as --cluster-timeout")
	_ = fl.MarkHidden("wait")
	fl.BoolVar(&o.create.Adopt, "adopt", false, "take back a kind cluster envctl created whose record in the state directory is lost")
	fl.BoolVar(&o.Registry, "registry", false, "give a kind cluster a local registry on localhost:5001 (as spec.cluster.kind.registry: true)")
	fl.StringVar(&o.create.Kubeconfig, "kubeconfig", "", kubeconfigWriteUsage)
	bindSetContext(fl, &o.create.Current, "make the new context the current one; --set-context=false keeps the current one (default: a cluster created becomes current, as with kind create cluster)")
	fl.StringVarP(&o.Output, "output", "o", "text", "output format: text, json or yaml")
	return cmd
}

func runClusterCreate(ctx context.Context, f *Factory, o *clusterCreateOptions, cmd *cobra.Command) error {
	if err := checkOutput(o.Output, outputs("text")...); err != nil {
		return err
	}
	d, err := cluster.LoadDeclaredWith(config.LoadOptions{Dir: f.Global.Repo, Flags: cmd.Flags(), Warn: f.warn}, o.Env, f.Logger)
	if err != nil {
		return err
	}
	c := o.create
	c.Options = f.clusterOptions()
	c, err = c.WithFlags(d, cluster.CreateFlags{Name: o.Name, Provider: o.Provider, ProviderSet: cmd.Flags().Changed("provider"),
		WaitSet: cmd.Flags().Changed("wait"), Registry: o.Registry})
	if err != nil {
		return err
	}
	progress := newProgress(f)
	defer progress.Close()
	c.Progress = progress
	created, err := cluster.Create(ctx, c)
	if err != nil {
		return err
	}
	progress.Close()
	return ui.WriteClusterResult(f.Streams.Out, o.Output, ui.NewClusterResult(created))
}
