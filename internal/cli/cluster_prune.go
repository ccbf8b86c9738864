package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/envctl/envctl/internal/cluster"
	"github.com/envctl/envctl/internal/ui"
)

// clusterPruneOptions are the inputs of `envctl cluster prune`.
type clusterPruneOptions struct {
	prune  cluster.PruneOptions
	Output string
}

func newClusterPruneCmd(f *Factory) *cobra.Command {
	o := &clusterPruneOptions{}
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Delete the clusters envctl created that nothing serves any more, or that are too old",
		Long: `Delete the embedded and kind clusters envctl created (as its state directory
records them) that are left over: an embedded cluster whose serve process is
gone (killed, or the machine restarted), a kind cluster whose containers were
removed, and with --older-than every such cluster created longer ago than
that, running or not. Each goes with its state and its kubeconfig context, as
with 'envctl cluster delete'. Clusters of the existing provider are never
touched.

On a CI runner, run it at the start or end of a job (or from cron) so that
jobs that were killed leave nothing behind: clusters of jobs still running
are younger than the limit and kept.

Exit codes: 0 done, 2 bad input, 6 a cluster that could not be deleted.`,
		Example: `  # What would go
  envctl cluster prune --older-than 4h --dry-run

  # Remove leftovers of killed CI jobs, and anything older than four hours
  envctl cluster prune --older-than 4h

  # For a script
  envctl cluster prune --older-than 4h -o json | jq -r '.removed[].name'`,
		Args: argsValidator(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(o.Output, outputs("text")...); err != nil {
				return err
			}
			if o.prune.OlderThan < 0 {
				return usageError(fmt.Errorf("--older-than %v: want a positive duration", o.prune.OlderThan))
			}
			return runClusterPrune(cmd.Context(), f, o)
		},
	}
	fl := cmd.Flags()
	fl.DurationVar(&o.prune.OlderThan, "older-than", 0, "also delete clusters created longer ago than this, running or not (default: only those nothing serves)")
	fl.BoolVar(&o.prune.DryRun, "dry-run", false, "list what would be deleted and delete nothing")
	fl.StringVarP(&o.Output, "output", "o", "text", "output format: text, json or yaml")
	return cmd
}

func runClusterPrune(ctx context.Context, f *Factory, o *clusterPruneOptions) error {
	progress := newProgress(f)
	defer progress.Close()
	o.prune.Options, o.prune.Progress = f.clusterOptions(), progress
	res, err := cluster.Prune(ctx, o.prune)
	progress.Close()
	if res != nil {
		if werr := ui.WritePrune(f.Streams.Out, o.Output, res); werr != nil && err == nil {
			err = werr
		}
	}
	return err
}
