package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/envctl/envctl/internal/cluster/kubeconfig"
	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/engine"
	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/prune"
	"github.com/envctl/envctl/internal/render"
)

// downOptions are the inputs of `envctl down`.
type downOptions struct {
	Env         string
	KeepCluster bool
	Timeout     time.Duration
	Output      string
	Cluster     clusterFlags
	// Source says where the declared state comes from.
	Source sourceFlags
	// NoHooks skips the charts' pre-delete and post-delete hooks.
	NoHooks bool
	// Yes skips the confirmation, which down asks on a terminal and
	// requires this flag for otherwise.
	Yes bool
	// DryRun prints what down would delete and stops.
	DryRun bool
	// ForcePrune deletes CustomResourceDefinitions that still have custom
	// resources envctl does not manage (they go with the CRD).
	ForcePrune bool
	// LockTimeout is how long to wait for the environment's lock.
	LockTimeout time.Duration
}

// downReport is what `envctl down -o json` prints.
type downReport struct {
	Environment string `json:"environment"`
	Cluster     string `json:"cluster,omitempty"`
	// Objects is the outcome for each object of the inventory, in the order
	// they were deleted.
	Objects          []downObject `json:"objects"`
	InventoryDeleted bool         `json:"inventoryDeleted"`
	ClusterDeleted   bool         `json:"clusterDeleted"`
	// Plan is what down was to delete; with --dry-run, the only content.
	Plan *downPlan `json:"plan,omitempty"`
}

type downObject struct {
	Ref     inventory.Ref `json:"ref"`
	Outcome prune.Outcome `json:"outcome"`
	Reason  string        `json:"reason,omitempty"`
}

func newDownCmd(f *Factory) *cobra.Command {
	o := &downOptions{}
	cmd := &cobra.Command{
		Use:   "down [ENV]",
		Short: "Delete everything envctl applied to an environment, and its cluster",
		Long: `Delete every object in the environment's inventory, in the reverse of the
order they were applied (workloads before their configuration, Namespaces and
CRDs last), waiting until each is gone; then the inventory itself; then the
cluster, when envctl created it (provider embedded or kind). Helm charts'
pre-delete hooks run before anything is deleted and their post-delete hooks
after, as with 'helm uninstall' (--no-hooks skips them).

A cluster reached through the existing provider or --kubeconfig/--context is
never deleted. Objects whose labels no longer say that envctl manages them for
this environment, and objects annotated envctl.dev/prune: disabled, are left
in place and listed. A CustomResourceDefinition that still has custom
resources envctl does not manage is kept (they would be deleted with it)
unless --force-prune. Running down again, or on an environment that is not
up, does nothing and succeeds.

down first lists what it will delete (objects per kind, their namespaces,
the cluster) and asks on a terminal; without a terminal it needs --yes.
--dry-run prints the list and deletes nothing. When the inventory is
missing, down rebuilds it from the labels of the environment's objects.`,
		Example: `  # Tear down CI's ephemeral environment and its cluster, without asking
  envctl down ci --yes

  # See what down would delete
  envctl down staging --dry-run

  # Remove the environment's objects but keep the cluster for the next run
  envctl down local --keep-cluster

  # A cluster envctl did not create: only envctl's objects are removed
  envctl down staging --context staging-admin`,
		Args: argsValidator(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.Env = args[0]
			}
			if err := checkOutput(o.Output, "text", "json"); err != nil {
				return err
			}
			if o.Timeout <= 0 {
				return usageError(fmt.Errorf("--timeout must be positive, not %s", o.Timeout))
			}
			return runDown(cmd.Context(), f, o)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&o.KeepCluster, "keep-cluster", false, "keep the cluster even when envctl created it")
	fl.DurationVar(&o.Timeout, "timeout", 5*time.Minute, "how long to wait for the objects to be deleted")
	fl.StringVarP(&o.Output, "output", "o", "text", "output format: text or json")
	fl.BoolVar(&o.NoHooks, "no-hooks", false, "do not run the charts' pre-delete and post-delete hooks")
	fl.BoolVarP(&o.Yes, "yes", "y", false, "delete without asking (required without a terminal)")
	fl.BoolVar(&o.DryRun, "dry-run", false, "print what would be deleted and delete nothing")
	fl.BoolVar(&o.ForcePrune, "force-prune", false, "also delete CustomResourceDefinitions whose custom resources envctl does not manage, and those resources with them")
	bindLockTimeout(fl, &o.LockTimeout)
	o.Cluster.bind(fl)
	o.Source.bind(fl)
	return cmd
}

func runDown(ctx context.Context, f *Factory, o *downOptions) error {
	if err := checkLockTimeout(o.LockTimeout); err != nil {
		return err
	}
	releaseBeforeClusterDelete := func() {}
	d, err := o.Source.load(ctx, f, o.Env, nil, nil)
	if err != nil {
		return err
	}
	repo, env := d.repo, d.env
	report := &downReport{Environment: env.Name(), Objects: []downObject{}}
	out := f.Streams.ErrOut
	target, err := connect(ctx, f, repo, env, o.Cluster)
	var noCluster *errNoCluster
	if errors.As(err, &noCluster) {
		fmt.Fprintf(out, "Cluster %s of environment %s does not exist; nothing to do.\n", target.clusterName, env.Name())
		return printDown(f, o, report, false)
	}
	if err != nil {
		return err
	}
	if !o.Cluster.set() {
		report.Cluster = target.clusterName
	}
	deleteCluster := target.createdByEnvctl() && !o.KeepCluster

	if !o.DryRun {
		// One writer per environment: an up or apply running now would
		// re-create what down deletes.
		var lock *environmentLock
		ctx, lock, err = lockEnvironment(ctx, f, target.client.Clientset, env.Name(), "down", o.LockTimeout)
		if err != nil {
			return err
		}
		defer lock.release()
		releaseBeforeClusterDelete = lock.release
	}
	inv, err := loadForDown(ctx, f, target)
	if err != nil {
		return err
	}
	report.Plan = planDown(inv, target, deleteCluster)
	if o.DryRun {
		return printDownPlan(f, o, report)
	}
	if err := confirmDown(f, o, report.Plan); err != nil {
		return err
	}

	downErr := deleteObjects(ctx, f, target, inv, o, report)
	if downErr != nil && deleteCluster {
		// The cluster goes anyway, and everything in it.
		fmt.Fprintf(out, "Warning: %v\n", downErr)
		downErr = nil
	}
	if downErr == nil {
		if err := inventory.NewStore(target.client.Clientset).Delete(ctx, env.Name()); err != nil {
			if !deleteCluster {
				return err
			}
			fmt.Fprintf(out, "Warning: %v\n", err)
		} else {
			report.InventoryDeleted = true
		}
	}
	if deleteCluster {
		// The lock goes with the cluster: release it while it can be.
		releaseBeforeClusterDelete()
		progress := newProgress(f)
		done := progress.Step(fmt.Sprintf("Deleting %s cluster %s", target.provider.Name(), target.clusterName))
		err := target.provider.Delete(ctx, target.clusterName)
		done(err)
		progress.Close()
		if err != nil {
			return fmt.Errorf("delete cluster %s: %w", target.clusterName, err)
		}
		report.ClusterDeleted = true
		// `envctl up` wrote the cluster's context into the user's kubeconfig.
		path, err := kubeconfig.DefaultPath()
		if _, statErr := os.Stat(path); err == nil && statErr == nil {
			_, err = kubeconfig.Remove(ctx, path, target.clusterName)
		}
		if err != nil {
			return fmt.Errorf("cluster %s is deleted, but its kubeconfig context %s is not: %w", target.clusterName, kubeconfig.ContextName(target.clusterName), err)
		}
	} else if target.provider != nil && target.provider.Name() == config.ProviderExisting {
		fmt.Fprintf(out, "Cluster %s was not created by envctl; it is kept.\n", target.clusterName)
	}
	if err := printDown(f, o, report, downErr != nil); err != nil {
		return err
	}
	return downErr
}

// loadForDown reads the environment's inventory. A missing one is rebuilt
// from the labels of the environment's objects, so that down works as if it
// had never been lost; nil when there is none and nothing is labelled.
func loadForDown(ctx context.Context, f *Factory, target *envTarget) (*inventory.Inventory, error) {
	out := f.Streams.ErrOut
	name := target.env.Name()
	inv, err := inventory.NewStore(target.client.Clientset).Load(ctx, name)
	if errors.Is(err, inventory.ErrNotFound) {
		rebuilt, skipped, rerr := engine.RebuildInventory(ctx, target.client, name, repositoryName(target.repo), nil)
		if rerr != nil {
			return nil, fmt.Errorf("environment %s has no inventory; looking for its objects: %w", name, rerr)
		}
		if len(skipped) > 0 {
			fmt.Fprintf(out, "Warning: could not look for objects in API groups %s (their discovery failed).\n", strings.Join(skipped, ", "))
		}
		if len(rebuilt.Entries) == 0 {
			fmt.Fprintf(out, "Environment %s has no inventory in this cluster, and no object is labelled for it; no objects to delete.\n", name)
			return nil, nil
		}
		fmt.Fprintf(out, "The inventory of environment %s was missing; rebuilt it from the labels of %s.\n", name, plural(len(rebuilt.Entries), "object"))
		return rebuilt, nil
	}
	if err != nil {
		return nil, err
	}
	if err := engine.CheckRepository(inv, repositoryName(target.repo), false); err != nil {
		return nil, err
	}
	return inv, nil
}

// deleteObjects deletes what the inventory lists, waiting until it is gone.
// When something cannot be deleted the inventory keeps it, so that a later
// down tries again.
func deleteObjects(ctx context.Context, f *Factory, target *envTarget, inv *inventory.Inventory, o *downOptions, report *downReport) error {
	out := f.Streams.ErrOut
	if inv == nil {
		return nil
	}
	store := inventory.NewStore(target.client.Clientset)
	hooks := &deleteHooks{f: f, target: target, inv: inv, o: o}
	if err := hooks.run(ctx, render.PreDelete); err != nil {
		return fmt.Errorf("environment %s: nothing deleted: %w", inv.Environment, err)
	}
	fmt.Fprintf(out, "Deleting %d objects of environment %s...\n", len(inv.Entries), inv.Environment)
	// The Namespaces of releases with post-delete hooks go after the hooks.
	first, later, err := hooks.holdBack(ctx, inv)
	if err != nil {
		return fmt.Errorf("environment %s: nothing deleted: %w", inv.Environment, err)
	}
	res, err := prune.Run(ctx, target.client, downPruneOptions(f, o, first))
	if err == nil {
		if err = hooks.run(ctx, render.PostDelete); err == nil && later != nil {
			var more *prune.Result
			more, err = prune.Run(ctx, target.client, downPruneOptions(f, o, later))
			if more != nil {
				res.Items = append(res.Items, more.Items...)
			}
		}
	}
	var held []string
	if res != nil {
		for _, it := range res.Items {
			report.Objects = append(report.Objects, downObject{Ref: it.Entry.Ref, Outcome: it.Outcome, Reason: it.Reason})
		}
		for _, it := range res.With(prune.Held) {
			held = append(held, it.Entry.Ref.String())
		}
	}
	if len(held) > 0 {
		herr := errs.Inputf("%s kept: custom resources envctl does not manage would be deleted with it; rerun `envctl down %s --force-prune` to delete it and them",
			strings.Join(held, ", "), inv.Environment)
		err = errors.Join(err, herr)
	}
	if err == nil {
		return nil
	}
	if res != nil {
		// Everything not dealt with stays recorded: what failed or a guard
		// held, the Namespaces held back for post-delete hooks, and what the
		// run never reached (it stopped at the timeout before the
		// Namespaces, deleted last).
		left := inv.Replace(inv.Components, notDealtWith(inv, res))
		left.AppliedAt = inv.AppliedAt
		if _, serr := store.Save(ctx, left); serr != nil {
			err = errors.Join(err, serr)
		}
	}
	return fmt.Errorf("environment %s is not fully down: %w; run `envctl down %s` again", inv.Environment, err, inv.Environment)
}

// downPruneOptions deletes everything prev lists, waiting until it is gone.
func downPruneOptions(f *Factory, o *downOptions, prev *inventory.Inventory) prune.Options {
	out := f.Streams.ErrOut
	return prune.Options{
		Environment:    prev.Environment,
		Previous:       prev,
		ApplySucceeded: true,
		// Everything goes, Namespaces included; the ownership labels,
		// envctl.dev/prune: disabled and (unless --force-prune) the CRD
		// guard are still honoured.
		All:      true,
		Force:    o.ForcePrune,
		Settings: config.PruneSettings{AllowNamespaces: true, MaxFraction: 1},
		Wait:     true,
		Timeout:  o.Timeout,
		OnItem: func(it prune.Item) {
			switch it.Outcome {
			case prune.Pruned, prune.Gone:
				fmt.Fprintf(out, "✓ deleted %s\n", it.Entry.Ref)
			case prune.Skipped:
				fmt.Fprintf(out, "- kept %s: %s\n", it.Entry.Ref, it.Reason)
			case prune.Held:
				fmt.Fprintf(out, "! kept %s: %s\n", it.Entry.Ref, it.Reason)
			case prune.Failed:
				fmt.Fprintf(out, "✗ %s: %s\n", it.Entry.Ref, it.Reason)
			}
		},
		Logger: f.Logger,
	}
}

// notDealtWith returns the entries of inv that res did not delete or
// release (Skipped: left in place, no longer tracked).
func notDealtWith(inv *inventory.Inventory, res *prune.Result) []inventory.Entry {
	dealt := map[inventory.Key]bool{}
	for _, it := range res.Items {
		switch it.Outcome {
		case prune.Pruned, prune.Gone, prune.Skipped:
			dealt[it.Entry.Key()] = true
		}
	}
	var out []inventory.Entry
	for _, e := range inv.Entries {
		if !dealt[e.Key()] {
			out = append(out, e)
		}
	}
	return out
}

func printDown(f *Factory, o *downOptions, r *downReport, incomplete bool) error {
	if o.Output == "json" {
		return writeJSON(f.Streams.Out, r)
	}
	deleted, kept := 0, 0
	for _, ob := range r.Objects {
		switch ob.Outcome {
		case prune.Pruned, prune.Gone:
			deleted++
		case prune.Skipped:
			kept++
		}
	}
	state := "is down"
	if incomplete {
		state = "is not fully down"
	}
	msg := fmt.Sprintf("Environment %s %s: %d objects deleted", r.Environment, state, deleted)
	if kept > 0 {
		msg += fmt.Sprintf(", %d left in place", kept)
	}
	if r.ClusterDeleted {
		msg += ", cluster " + r.Cluster + " deleted"
	}
	fmt.Fprintln(f.Streams.Out, msg+".")
	return nil
}
