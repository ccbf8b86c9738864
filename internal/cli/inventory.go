package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/envctl/envctl/internal/engine"
	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/lease"
	"github.com/envctl/envctl/internal/ui"
)

func newInventoryCmd(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "inventory",
		Short: "Inspect and repair the record of what envctl applied to an environment",
		Long: `envctl records what it applied to an environment in the cluster: ConfigMaps
envctl-inventory-ENV in namespace envctl-env-ENV once a daemon is installed for
ENV, else in envctl-system. Prune and down work from it.`,
	}
	cmd.AddCommand(newInventoryRebuildCmd(f))
	return cmd
}

// inventoryRebuildOptions are the inputs of `envctl inventory rebuild`.
type inventoryRebuildOptions struct {
	envFlags
	LockTimeout time.Duration
}

func newInventoryRebuildCmd(f *Factory) *cobra.Command {
	o := &inventoryRebuildOptions{}
	cmd := &cobra.Command{
		Use:   "rebuild [ENV]",
		Short: "Rebuild an environment's inventory from the labels of its objects",
		Long: `Rebuild the inventory of an environment from the objects in the cluster that
carry its ownership labels (app.kubernetes.io/managed-by: envctl and
envctl.dev/environment: ENV) and the digest annotation envctl writes when it
applies an object. Every kind the cluster serves is searched. The rebuilt
inventory replaces the stored one, damaged or not.

envctl apply, up, diff and down stop with exit 2 on a damaged inventory
rather than guess what was applied; this is the repair. A lost inventory
(its namespace deleted) needs no repair: those commands rebuild it
themselves. The next apply sends every object once, since the rebuilt
inventory does not know which fields envctl owned.

It holds the environment's lock while it writes, as apply does: a sync,
daemon or apply writing the environment is waited for (--lock-timeout).`,
		Example: `  # Repair the damaged inventory of the staging environment
  envctl inventory rebuild staging

  # Against a cluster of your kubeconfig
  envctl inventory rebuild ci --context ci-cluster -o json`,
		Args: argsValidator(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.args(args); err != nil {
				return err
			}
			return runInventoryRebuild(cmd.Context(), f, o)
		},
	}
	o.bind(cmd.Flags(), outputs("text")...)
	lease.BindLockTimeout(cmd.Flags(), &o.LockTimeout)
	return cmd
}

func runInventoryRebuild(ctx context.Context, f *Factory, o *inventoryRebuildOptions) error {
	if err := lease.CheckLockTimeout(o.LockTimeout); err != nil {
		return err
	}
	d, _, client, err := o.open(ctx, f, nil, nil)
	if err = missingAs(err, errs.Cluster); err != nil {
		return err
	}
	// One writer per environment: a loop that saves the inventory while it
	// is rebuilt would lose one of the two.
	ctx, lock, err := lease.HoldCommand(ctx, client.Clientset, d.Env.Name(), "inventory rebuild", o.LockTimeout, f.Logger, f.Streams.ErrOut)
	if err != nil {
		return err
	}
	defer lock.Release()
	rb, err := f.engine(client, d, "", "").Rebuild(ctx, engine.Request{Declared: d})
	if err != nil {
		return err
	}
	if len(rb.Skipped) > 0 {
		fmt.Fprintf(f.Streams.ErrOut, "Warning: API groups %v could not be searched (their discovery failed); objects there are not in the rebuilt inventory.\n", rb.Skipped)
	}
	return ui.WriteRebuild(f.Streams.Out, o.Output, ui.NewRebuildReport(d.Env.Name(), rb))
}
