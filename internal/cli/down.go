package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/envctl/envctl/internal/cluster"
	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/engine"
	"github.com/envctl/envctl/internal/kube"
	"github.com/envctl/envctl/internal/lease"
	"github.com/envctl/envctl/internal/ui"
)

// downOptions are the inputs of `envctl down`.
type downOptions struct {
	envFlags
	KeepCluster bool
	// Policy: the timeout of the deletions and hooks, and --force-prune.
	Policy engine.Policy
	// NoHooks skips the charts' pre-delete and post-delete hooks.
	NoHooks bool
	// Yes skips the confirmation, which down asks on a terminal and
	// requires this flag for otherwise.
	Yes bool
	// DryRun prints what down would delete and stops.
	DryRun bool
	// LockTimeout is how long to wait for the environment's lock.
	LockTimeout time.Duration
}

const downLong = `Delete every object in the environment's inventory, in the reverse of the
order they were applied (workloads before their configuration, Namespaces and
CRDs last), waiting until each is gone; then the inventory itself; then the
cluster, when envctl created it (provider embedded or kind), and its context
from the kubeconfig files envctl wrote it to. Helm charts' pre-delete hooks
run before anything is deleted and their post-delete hooks after, as with
'helm uninstall' (--no-hooks skips them).

A cluster reached through provider existing, or a --kubeconfig/--context
context envctl did not write, is never deleted. Objects whose labels no longer
say that envctl manages them for this environment, and objects annotated
envctl.dev/prune: disabled, are left in place and listed. A
CustomResourceDefinition that still has custom resources envctl does not
manage is kept (they would be deleted with it) unless --force-prune. Running
down again, or on an environment that is not up, does nothing and succeeds.

down first lists what it will delete (objects per kind, their namespaces,
the cluster) and asks on a terminal; without a terminal it needs --yes.
--dry-run prints the list and deletes nothing. When the inventory is
missing, down rebuilds it from the labels of the environment's objects.`

const downExample = `  # Tear down CI's ephemeral environment and its cluster, without asking
  envctl down ci --yes

  # See what down would delete
  envctl down staging --dry-run

  # Remove the environment's objects but keep the cluster for the next run
  envctl down local --keep-cluster

  # A cluster envctl did not create: only envctl's objects are removed
  envctl down staging --context staging-admin`

func newDownCmd(f *Factory) *cobra.Command {
	o := &downOptions{}
	cmd := &cobra.Command{
		Use:     "down [ENV]",
		Short:   "Delete everything envctl applied to an environment, and its cluster",
		Long:    downLong,
		Example: downExample,
		Args:    argsValidator(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.args(args); err != nil {
				return err
			}
			if o.Policy.Timeout <= 0 {
				return usageError(fmt.Errorf("--timeout must be positive, not %s", o.Policy.Timeout))
			}
			return runDown(cmd.Context(), f, o)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&o.KeepCluster, "keep-cluster", false, "keep the cluster even when envctl created it")
	o.Policy.Timeout = 5 * time.Minute
	o.Policy.Bind(fl, map[string]string{
		engine.FlagTimeout:    "how long to wait for the objects to be deleted",
		engine.FlagForcePrune: "lift every guard: also delete CustomResourceDefinitions whose custom resources envctl does not manage, and those resources with them",
		engine.FlagPruneCRDs:  "also delete CustomResourceDefinitions whose custom resources envctl does not manage, and those resources with them",
	}, engine.FlagTimeout, engine.FlagForcePrune, engine.FlagPruneCRDs)
	o.bind(fl, outputs("text")...)
	fl.BoolVar(&o.NoHooks, "no-hooks", false, "do not run the charts' pre-delete and post-delete hooks")
	fl.BoolVarP(&o.Yes, "yes", "y", false, "delete without asking (required without a terminal)")
	fl.BoolVar(&o.DryRun, "dry-run", false, "print what would be deleted and delete nothing")
	lease.BindLockTimeout(fl, &o.LockTimeout)
	return cmd
}

func runDown(ctx context.Context, f *Factory, o *downOptions) error {
	if err := lease.CheckLockTimeout(o.LockTimeout); err != nil {
		return err
	}
	d, t, client, err := o.open(ctx, f, nil, nil)
	if d == nil {
		return err
	}
	env := d.Env.Name()
	report := &ui.DownReport{Environment: env, Objects: []ui.DownObject{}}
	var missing *cluster.MissingError
	if errors.As(err, &missing) {
		fmt.Fprintf(f.Streams.ErrOut, "Cluster %s of environment %s does not exist; nothing to do.\n", t.Name, env)
		return ui.WriteDown(f.Streams.Out, o.Output, report, false)
	}
	if err != nil {
		return err
	}
	if t.Provider != nil {
		report.Cluster = t.Name
	}
	var lock *lease.Holding
	if !o.DryRun {
		// One writer per environment: an up or apply running now would
		// re-create what down deletes.
		if ctx, lock, err = lease.HoldCommand(ctx, client.Clientset, env, "down", o.LockTimeout, f.Logger, f.Streams.ErrOut); err != nil {
			return err
		}
		defer lock.Release()
	}
	return teardown(ctx, f, o, d, t, client, lock, report)
}

// teardown deletes what the environment's inventory lists, once confirmed,
// and then the cluster when envctl created it; lock is the environment's,
// released before its cluster goes.
func teardown(ctx context.Context, f *Factory, o *downOptions, d *engine.Declared, t *cluster.Target, client *kube.Client, lock *lease.Holding, report *ui.DownReport) error {
	env, out := d.Env.Name(), f.Streams.ErrOut
	deleteCluster := t.CreatedByEnvctl() && !o.KeepCluster
	eng := f.engine(client, d, "", "")
	req := engine.Request{Declared: d, Policy: o.Policy, OnEvent: ui.DownEvents(out)}
	inv, err := eng.Applied(ctx, req)
	if err != nil {
		return err
	}
	if inv == nil {
		fmt.Fprintf(out, "Environment %s has no inventory in this cluster, and no object is labelled for it; no objects to delete.\n", env)
	}
	report.Plan = ui.PlanDown(env, inv, t, deleteCluster)
	if o.DryRun {
		return ui.WriteDownPlan(f.Streams.Out, o.Output, report.Plan)
	}
	if err := report.Plan.Confirm(f.Streams.In, out, f.Streams.InTTY && f.Streams.ErrTTY, o.Yes); err != nil {
		return err
	}
	res, downErr := eng.Teardown(ctx, req, inv, !o.NoHooks)
	if res != nil {
		report.Record(res)
	}
	if downErr != nil && deleteCluster {
		// The cluster goes anyway, and everything in it.
		fmt.Fprintf(out, "Warning: %v\n", downErr)
		downErr = nil
	}
	if deleteCluster {
		// The lock goes with the cluster: release it while it can be.
		lock.Release()
		progress := newProgress(f)
		err := t.Delete(ctx, progress)
		progress.Close()
		if err != nil {
			return err
		}
		report.ClusterDeleted = true
	} else if t.ProviderName() == config.ProviderExisting {
		fmt.Fprintf(out, "Cluster %s was not created by envctl; it is kept.\n", t.Name)
	}
	if err := ui.WriteDown(f.Streams.Out, o.Output, report, downErr != nil); err != nil {
		return err
	}
	return downErr
}
