package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/syncstate"
	"github.com/envctl/envctl/internal/ui"
)

// controlOptions are the inputs of reconcile, suspend and resume.
type controlOptions struct {
	envFlags
	Timeout time.Duration
}

func (o *controlOptions) bind(cmd *cobra.Command, timeout time.Duration) {
	cmd.Flags().DurationVar(&o.Timeout, "timeout", timeout, "how long to wait for the running sync or daemon to answer")
	o.envFlags.bind(cmd.Flags(), outputs("text")...)
}

func (o *controlOptions) args(args []string) error {
	if err := o.envFlags.args(args); err != nil {
		return err
	}
	if o.Timeout <= 0 {
		return usageError(fmt.Errorf("--timeout must be positive, got %s", o.Timeout))
	}
	return nil
}

func newReconcileCmd(f *Factory) *cobra.Command {
	o := &controlOptions{}
	cmd := &cobra.Command{
		Use:   "reconcile [ENV]",
		Short: "Ask the running sync or daemon to reconcile now, and wait for the result",
		Long: `Ask the envctl sync or envctl daemon that keeps the environment converged to
reconcile now: look at its source, render again (even a revision whose render
failed before), apply, wait for health and prune. The request goes through
the environment's record in the cluster (ConfigMap envctl-sync-ENV in
envctl-env-ENV, or envctl-system without a daemon), so it reaches a daemon from any laptop.

It waits for the answer and exits as the reconcile did: 0 converged, 2 bad
input, 3 unhealthy, 4 timeout, 5 conflict, 6 cluster error. It fails with 2
when no sync or daemon runs for the environment.`,
		Example: `  # Apply what was just pushed, without waiting for the next poll
  envctl reconcile staging --context staging-admin

  # From a script
  envctl reconcile ci -o json | jq .succeeded`,
		Args: argsValidator(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.args(args); err != nil {
				return err
			}
			return runReconcileRequest(cmd.Context(), f, o)
		},
	}
	o.bind(cmd, 5*time.Minute)
	return cmd
}

func newSuspendCmd(f *Factory) *cobra.Command {
	return newSuspendResumeCmd(f, true)
}

func newResumeCmd(f *Factory) *cobra.Command {
	return newSuspendResumeCmd(f, false)
}

const suspendLong = `Pause the continuous reconcile of an environment: the running envctl sync or
daemon stops applying new revisions and correcting drift until 'envctl
resume'. The pause is recorded in the cluster (ConfigMap envctl-sync-ENV in
envctl-env-ENV, or envctl-system without a daemon), so it holds across restarts of the daemon, and a sync or
daemon started later starts paused. It waits until a running one has
acknowledged it.`

const suspendExample = `  # Stop envctl from undoing a manual fix while you investigate
  envctl suspend staging
  kubectl -n ml edit deployment model-server
  envctl resume staging`

const resumeLong = `Undo 'envctl suspend': the running envctl sync or daemon looks at its source,
applies what changed and puts drifted objects back. It waits until a running
one has acknowledged it.`

const resumeExample = `  envctl resume staging`

func newSuspendResumeCmd(f *Factory, suspend bool) *cobra.Command {
	o := &controlOptions{}
	cmd := &cobra.Command{
		Use:     "suspend [ENV]",
		Short:   "Pause the environment's sync or daemon: no reconcile, no drift correction",
		Long:    suspendLong,
		Example: suspendExample,
		Args:    argsValidator(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.args(args); err != nil {
				return err
			}
			return runSuspend(cmd.Context(), f, o, suspend)
		},
	}
	if !suspend {
		cmd.Use = "resume [ENV]"
		cmd.Short = "Restart the environment's paused sync or daemon"
		cmd.Long, cmd.Example = resumeLong, resumeExample
	}
	o.bind(cmd, 30*time.Second)
	return cmd
}

// control reaches the environment's cluster and, through its record, the
// loop that keeps it converged.
func control(ctx context.Context, f *Factory, o *controlOptions) (*syncstate.Control, error) {
	d, _, client, err := o.open(ctx, f, nil, nil)
	if err = missingAs(err, errs.Input); err != nil {
		return nil, err
	}
	return syncstate.NewControl(ctx, client.Clientset, d.Env.Name())
}

func runReconcileRequest(ctx context.Context, f *Factory, o *controlOptions) error {
	c, err := control(ctx, f, o)
	if err != nil {
		return err
	}
	a, err := c.Reconcile(ctx, o.Timeout, func(holder string) {
		fmt.Fprintf(f.Streams.ErrOut, "asked %s to reconcile environment %s; waiting for the result\n", holder, c.Env)
	})
	if err != nil {
		return err
	}
	if err := ui.WriteReconciled(f.Streams.Out, o.Output, c.Env, a); err != nil {
		return err
	}
	return a.Err(c.Env)
}

func runSuspend(ctx context.Context, f *Factory, o *controlOptions, suspend bool) error {
	c, err := control(ctx, f, o)
	if err != nil {
		return err
	}
	st, err := c.SetSuspended(ctx, suspend, o.Timeout)
	if err != nil {
		return err
	}
	return ui.WriteSuspended(f.Streams.Out, o.Output, c.Env, suspend, st)
}
