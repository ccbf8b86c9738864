package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/envctl/envctl/internal/cluster/kubeconfig"
	"github.com/envctl/envctl/internal/config"
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
in place and listed. Running down again, or on an environment that is not
up, does nothing and succeeds.`,
		Example: `  # Tear down CI's ephemeral environment and its cluster
  envctl down ci

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
	o.Cluster.bind(fl)
	o.Source.bind(fl)
	return cmd
}

func runDown(ctx context.Context, f *Factory, o *downOptions) error {
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

	downErr := deleteObjects(ctx, f, target, o, report)
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

// deleteObjects deletes what the inventory lists, waiting until it is gone.
// When something cannot be deleted the inventory keeps it, so that a later
// down tries again.
func deleteObjects(ctx context.Context, f *Factory, target *envTarget, o *downOptions, report *downReport) error {
	out := f.Streams.ErrOut
	store := inventory.NewStore(target.client.Clientset)
	inv, err := store.Load(ctx, target.env.Name())
	if errors.Is(err, inventory.ErrNotFound) {
		fmt.Fprintf(out, "Environment %s has no inventory in this cluster; no objects to delete.\n", target.env.Name())
		return nil
	}
	if err != nil {
		return err
	}
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
	var retained []inventory.Entry // of the held-back Namespaces, until pruned
	if later != nil {
		retained = later.Entries
	}
	if err == nil {
		if err = hooks.run(ctx, render.PostDelete); err == nil && later != nil {
			var more *prune.Result
			more, err = prune.Run(ctx, target.client, downPruneOptions(f, o, later))
			if more != nil {
				res.Items = append(res.Items, more.Items...)
				retained = nil // in res now
			}
		}
	}
	if res != nil {
		for _, it := range res.Items {
			report.Objects = append(report.Objects, downObject{Ref: it.Entry.Ref, Outcome: it.Outcome, Reason: it.Reason})
		}
	}
	if err == nil {
		return nil
	}
	if res != nil {
		left := inv.Replace(inv.Components, append(res.Retained(), retained...))
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
		// Everything goes, Namespaces included; the ownership labels and
		// envctl.dev/prune: disabled are still honoured.
		Force:    true,
		Settings: config.PruneSettings{AllowNamespaces: true, MaxFraction: 1},
		Wait:     true,
		Timeout:  o.Timeout,
		OnItem: func(it prune.Item) {
			switch it.Outcome {
			case prune.Pruned, prune.Gone:
				fmt.Fprintf(out, "✓ deleted %s\n", it.Entry.Ref)
			case prune.Skipped:
				fmt.Fprintf(out, "- kept %s: %s\n", it.Entry.Ref, it.Reason)
			case prune.Failed:
				fmt.Fprintf(out, "✗ %s: %s\n", it.Entry.Ref, it.Reason)
			}
		},
		Logger: f.Logger,
	}
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
