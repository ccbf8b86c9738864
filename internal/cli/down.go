package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/envctl/envctl/internal/cluster"
	"github.com/envctl/envctl/internal/cluster/kubeconfig"
	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/engine"
	"github.com/envctl/envctl/internal/object"
	"github.com/envctl/envctl/internal/prune"
)

// downOptions are the inputs of `envctl down`.
type downOptions struct {
	Env         string
	KeepCluster bool
	// Policy: the timeout of the deletions and hooks, and --force-prune.
	Policy  engine.Policy
	Output  string
	Cluster clusterFlags
	// Source says where the declared state comes from.
	Source sourceFlags
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
	Ref     object.Ref    `json:"ref"`
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
			if o.Policy.Timeout <= 0 {
				return usageError(fmt.Errorf("--timeout must be positive, not %s", o.Policy.Timeout))
			}
			return runDown(cmd.Context(), f, o)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&o.KeepCluster, "keep-cluster", false, "keep the cluster even when envctl created it")
	o.Policy.Timeout = 5 * time.Minute
	bindPolicy(fl, &o.Policy, map[string]string{
		flagTimeout:    "how long to wait for the objects to be deleted",
		flagForcePrune: "also delete CustomResourceDefinitions whose custom resources envctl does not manage, and those resources with them",
	}, flagTimeout, flagForcePrune)
	fl.StringVarP(&o.Output, "output", "o", "text", "output format: text or json")
	fl.BoolVar(&o.NoHooks, "no-hooks", false, "do not run the charts' pre-delete and post-delete hooks")
	fl.BoolVarP(&o.Yes, "yes", "y", false, "delete without asking (required without a terminal)")
	fl.BoolVar(&o.DryRun, "dry-run", false, "print what would be deleted and delete nothing")
	bindLockTimeout(fl, &o.LockTimeout)
	o.Cluster.bind(fl)
	o.Source.bind(fl)
	return cmd
}

func runDown(ctx context.Context, f *Factory, o *downOptions) error {
	if err := checkLockTimeout(o.LockTimeout); err != nil {
		return err
	}
	d, err := o.Source.load(ctx, f, o.Env, nil, nil, nil)
	if err != nil {
		return err
	}
	env := d.Env.Name()
	report := &downReport{Environment: env, Objects: []downObject{}}
	out := f.Streams.ErrOut
	t, client, err := connect(ctx, f, d.Env, o.Cluster)
	var missing *cluster.MissingError
	if errors.As(err, &missing) {
		fmt.Fprintf(out, "Cluster %s of environment %s does not exist; nothing to do.\n", t.Name, env)
		return printDown(f, o, report, false)
	}
	if err != nil {
		return err
	}
	if !o.Cluster.set() {
		report.Cluster = t.Name
	}
	deleteCluster := t.CreatedByEnvctl() && !o.KeepCluster
	lock := &environmentLock{}
	if !o.DryRun {
		// One writer per environment: an up or apply running now would
		// re-create what down deletes.
		if ctx, lock, err = lockEnvironment(ctx, f, client.Clientset, env, "down", o.LockTimeout); err != nil {
			return err
		}
		defer lock.release()
	}
	eng := f.engine(client, "", "")
	req := engine.Request{Declared: d, Policy: o.Policy, OnEvent: downEvents(out)}
	inv, err := eng.Applied(ctx, req)
	if err != nil {
		return err
	}
	if inv == nil {
		fmt.Fprintf(out, "Environment %s has no inventory in this cluster, and no object is labelled for it; no objects to delete.\n", env)
	}
	report.Plan = planDown(env, inv, t, deleteCluster)
	if o.DryRun {
		return printDownPlan(f, o, report)
	}
	if err := confirmDown(f, o, report.Plan); err != nil {
		return err
	}
	res, downErr := eng.Teardown(ctx, req, inv, !o.NoHooks)
	if res != nil {
		report.InventoryDeleted = res.InventoryDeleted
		for _, it := range res.Items {
			report.Objects = append(report.Objects, downObject{Ref: it.Entry.Ref, Outcome: it.Outcome, Reason: it.Reason})
		}
	}
	if downErr != nil && deleteCluster {
		// The cluster goes anyway, and everything in it.
		fmt.Fprintf(out, "Warning: %v\n", downErr)
		downErr = nil
	}
	if deleteCluster {
		// The lock goes with the cluster: release it while it can be.
		lock.release()
		if err := deleteEnvCluster(ctx, f, t); err != nil {
			return err
		}
		report.ClusterDeleted = true
	} else if t.ProviderName() == config.ProviderExisting {
		fmt.Fprintf(out, "Cluster %s was not created by envctl; it is kept.\n", t.Name)
	}
	if err := printDown(f, o, report, downErr != nil); err != nil {
		return err
	}
	return downErr
}

// deleteEnvCluster deletes the cluster envctl created for an environment,
// and the context `envctl up` wrote for it into the user's kubeconfig.
func deleteEnvCluster(ctx context.Context, f *Factory, t *cluster.Target) error {
	progress := newProgress(f)
	done := progress.Step(fmt.Sprintf("Deleting %s cluster %s", t.ProviderName(), t.Name))
	err := t.Provider.Delete(ctx, t.Name)
	done(err)
	progress.Close()
	if err != nil {
		return fmt.Errorf("delete cluster %s: %w", t.Name, err)
	}
	path, err := kubeconfig.DefaultPath()
	if _, statErr := os.Stat(path); err == nil && statErr == nil {
		_, err = kubeconfig.Remove(ctx, path, t.Name)
	}
	if err != nil {
		return fmt.Errorf("cluster %s is deleted, but its kubeconfig context %s is not: %w", t.Name, kubeconfig.ContextName(t.Name), err)
	}
	return nil
}

// downEvents prints the steps of a teardown: each hook and each object as
// it is dealt with.
func downEvents(out io.Writer) func(engine.Event) {
	return func(e engine.Event) {
		switch e.Type {
		case engine.Notice:
			fmt.Fprintf(out, "%s.\n", upperFirst(e.Message))
		case engine.HookDone:
			if e.Err == nil {
				fmt.Fprintf(out, "✓ %s hook %s\n", e.Message, e.Object)
			} else {
				fmt.Fprintf(out, "✗ %s hook %s: %s\n", e.Message, e.Object, firstLine(e.Err.Error()))
			}
		case engine.ObjectPruned:
			switch prune.Outcome(e.Action) {
			case prune.Pruned, prune.Gone:
				fmt.Fprintf(out, "✓ deleted %s\n", e.Object)
			case prune.Skipped:
				fmt.Fprintf(out, "- kept %s: %s\n", e.Object, e.Message)
			case prune.Held:
				fmt.Fprintf(out, "! kept %s: %s\n", e.Object, e.Message)
			case prune.Failed:
				fmt.Fprintf(out, "✗ %s: %s\n", e.Object, e.Message)
			}
		}
	}
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
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
