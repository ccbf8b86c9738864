package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/envctl/envctl/internal/cluster"
	"github.com/envctl/envctl/internal/engine"
	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/syncstate"
	"github.com/envctl/envctl/internal/ui"
)

// statusOptions are the inputs of `envctl status`.
type statusOptions struct {
	envFlags
}

func newStatusCmd(f *Factory) *cobra.Command {
	o := &statusOptions{}
	cmd := &cobra.Command{
		Use:   "status [ENV]",
		Short: "Show the components, objects and health of an applied environment",
		Long: `Show what envctl last applied to the environment (from the inventory it keeps
in the cluster): the source revision and when, each component with its
objects, and each object's health as kstatus sees it now.

Exit status: 0 when every object is Current, 3 when some object is not, 2 when
the environment was never applied (no cluster or no inventory).`,
		Example: `  # Health of the default environment
  envctl status

  # In a script: wait for CI's environment to be healthy
  until envctl status ci >/dev/null; do sleep 5; done

  # The objects that are not Current
  envctl status ci -o json | jq '.components[].objects[] | select(.status != "Current")'

  # Is the environment at the head of its branch?
  envctl status staging --git https://github.com/acme/platform.git --branch main -o json | jq '.revision == .sourceRevision'`,
		Args: argsValidator(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.args(args); err != nil {
				return err
			}
			return runStatus(cmd.Context(), f, o)
		},
	}
	o.bind(cmd.Flags(), outputs("table")...)
	return cmd
}

func runStatus(ctx context.Context, f *Factory, o *statusOptions) error {
	d, t, client, err := o.open(ctx, f, nil, nil)
	var missing *cluster.MissingError
	if errors.As(err, &missing) {
		return errs.Inputf("environment %s was never applied: its cluster %s does not exist; bring it up with `%s`", d.Env.Name(), t.Name, d.Env.UpCommand())
	}
	if err != nil {
		return err
	}
	env := d.Env.Name()
	h, err := f.engine(client, d, "", "").Status(ctx, engine.Request{Declared: d})
	if err != nil {
		return err
	}
	report := &ui.StatusReport{Health: h, SourceRevision: d.Revision()}
	if !o.Cluster.set() {
		report.Cluster = t.Name
	}
	if report.Sync, err = syncstate.ReadReport(ctx, client.Clientset, env); err != nil {
		return err
	}
	if err := ui.WriteStatus(f.Streams.Out, o.Output, report); err != nil {
		return err
	}
	if h.Healthy {
		return nil
	}
	bad, total := h.NotHealthy()
	return errs.Unhealthy(fmt.Errorf("environment %s: %d of %d objects are not healthy", env, bad, total))
}
