package cli

import (
	"context"
	"errors"

	"github.com/spf13/cobra"

	"github.com/envctl/envctl/internal/cluster"
	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/ui"
)

// applyOptions are the inputs of `envctl apply`.
type applyOptions struct {
	reconcileOptions
	cluster clusterFlags
}

func newApplyCmd(f *Factory) *cobra.Command {
	o := &applyOptions{}
	cmd := &cobra.Command{
		Use:   "apply [ENV]",
		Short: "Bring an existing cluster to the environment's declared state",
		Long: `Apply an environment to a cluster that already exists: render it, apply it
with server-side apply in dependency order, wait until every component is
healthy, prune what is no longer declared, and print a summary. It is
` + "`envctl up`" + ` without creating anything: the cluster is the environment's own
(which must exist), or the one --kubeconfig/--context name.

Progress goes to stderr (redrawn in place on a terminal, plain lines
otherwise); the summary goes to stdout, as JSON with -o json.

Exit codes: 0 converged, 2 bad input, 3 unhealthy, 4 timeout, 5 conflict,
6 cluster error (including a cluster that does not exist).`,
		Example: `  # Apply the staging environment to its cluster
  envctl apply staging

  # Apply to the cluster of a kubeconfig context instead
  envctl apply staging --kubeconfig ~/.kube/config --context prod-eu

  # Apply without waiting for health and without pruning
  envctl apply local --no-wait --no-prune

  # Apply the head of a release branch, signed by a release key
  envctl apply staging --git git@github.com:acme/platform.git --branch release \
    --ssh-key ~/.ssh/deploy --known-hosts ~/.ssh/known_hosts --verify-signatures release-signers`,
		Args: argsValidator(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.Env = args[0]
			}
			o.Flags = cmd.Flags()
			return runApply(cmd.Context(), f, o)
		},
	}
	o.command = "apply"
	o.bind(cmd.Flags())
	o.cluster.bind(cmd.Flags())
	return cmd
}

func runApply(ctx context.Context, f *Factory, o *applyOptions) error {
	progress := newProgress(f)
	defer progress.Close()
	d, err := o.load(ctx, f, progress)
	if err != nil {
		return err
	}
	t, err := cluster.Connect(ctx, d.Env, cluster.Kubeconfig{Path: o.cluster.Kubeconfig, Context: o.cluster.Context}, f.clusterOptions())
	var missing *cluster.MissingError
	if errors.As(err, &missing) {
		return errs.Cluster(err)
	}
	if err != nil {
		return err
	}
	cl := ui.ClusterInfo{Name: t.Name, Provider: t.ProviderName(), Context: o.cluster.Context}
	_, err = reconcile(ctx, f, &o.reconcileOptions, d, t, cl, progress)
	return err
}
