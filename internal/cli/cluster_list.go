package cli

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/envctl/envctl/internal/cluster"
	"github.com/envctl/envctl/internal/ui"
)

// clusterListOptions are the inputs of `envctl cluster list`.
type clusterListOptions struct {
	Env    string
	Output string
	// now is the clock ages are computed against; tests fix it.
	now func() time.Time
}

func newClusterListCmd(f *Factory) *cobra.Command {
	o := &clusterListOptions{now: time.Now}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List clusters of every provider",
		Long: `List the clusters of every provider: the embedded and kind clusters envctl
created, and the existing cluster the environment (--env, or the default
environment) points at. Each is asked for its version and nodes.

STATUS is running, stopped (its state is there, its API server is not),
missing (envctl's record remains but the cluster is gone) or unknown (it
could not be asked, for instance because the container runtime is down);
-o json says why in "message".`,
		Example: `  envctl cluster list

  # For scripts: one JSON array, [] when there are none
  envctl cluster list -o json | jq -r '.[] | select(.status == "running") | .name'`,
		Args: argsValidator(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runClusterList(cmd.Context(), f, o)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&o.Env, "env", "e", "", "environment whose existing cluster to include (default: the repository's default environment, if any)")
	fl.StringVarP(&o.Output, "output", "o", "table", "output format: table, json or yaml")
	return cmd
}

func runClusterList(ctx context.Context, f *Factory, o *clusterListOptions) error {
	if err := checkOutput(o.Output, outputs("table")...); err != nil {
		return err
	}
	d, err := cluster.LoadDeclared(f.Global.Repo, o.Env, f.Logger)
	if err != nil {
		return err
	}
	all, listErr := cluster.ListAll(ctx, d.Options(f.clusterOptions()))
	if err := ui.WriteClusters(f.Streams.Out, f.Streams.ErrOut, o.Output, all, o.now()); err != nil {
		return err
	}
	return listErr
}
