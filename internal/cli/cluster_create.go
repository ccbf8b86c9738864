package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/envctl/envctl/internal/cluster"
	"github.com/envctl/envctl/internal/ui"
)

// clusterCreateOptions are the inputs of `envctl cluster create`.
type clusterCreateOptions struct {
	Name, Provider, Env, Output string
	// create takes --wait, --kubeconfig and --set-context as they are.
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

With provider existing nothing is created: envctl checks that the cluster
answers and reports its version.`,
		Example: `  # A cluster for the default environment, on kind or the embedded provider
  envctl cluster create

  # A kind cluster of your own, given at most five minutes
  envctl cluster create scratch --provider kind --wait 5m

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
	fl.DurationVar(&o.create.Wait, "wait", 10*time.Minute, "give up, and delete what was half-created, after this long; 0 waits as long as it takes")
	fl.StringVar(&o.create.Kubeconfig, "kubeconfig", "", "kubeconfig file to write the context to (default: the first file in $KUBECONFIG, else ~/.kube/config)")
	bindSetContext(fl, &o.create.Current, "make the new context the current one (default: only when the kubeconfig has no current context)")
	fl.StringVarP(&o.Output, "output", "o", "text", "output format: text or json")
	return cmd
}

func runClusterCreate(ctx context.Context, f *Factory, o *clusterCreateOptions, cmd *cobra.Command) error {
	if err := checkOutput(o.Output, "text", "json"); err != nil {
		return err
	}
	if o.create.Wait < 0 {
		return usageError(fmt.Errorf("--wait %v: want a positive duration, or 0 for no limit", o.create.Wait))
	}
	d, err := cluster.LoadDeclared(f.Global.Repo, o.Env, f.Logger)
	if err != nil {
		return err
	}
	if o.Name != "" {
		d.Name = o.Name
	}
	if cmd.Flags().Changed("provider") {
		d.Spec.Provider = o.Provider
	}
	progress := newProgress(f)
	defer progress.Close()
	c := o.create
	c.Declared, c.Options, c.Progress = *d, f.clusterOptions(), progress
	created, err := cluster.Create(ctx, c)
	if err != nil {
		return err
	}
	progress.Close()
	return ui.WriteClusterResult(f.Streams.Out, o.Output, ui.NewClusterResult(created))
}
