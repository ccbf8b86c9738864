package ui

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/envctl/envctl/internal/cluster"
	"github.com/envctl/envctl/internal/engine"
	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/object"
	"github.com/envctl/envctl/internal/prune"
)

// DownReport is what `envctl down -o json` prints.
type DownReport struct {
	Environment string `json:"environment"`
	Cluster     string `json:"cluster,omitempty"`
	// Objects is the outcome for each object of the inventory, in the order
	// they were deleted.
	Objects          []DownObject `json:"objects"`
	InventoryDeleted bool         `json:"inventoryDeleted"`
	ClusterDeleted   bool         `json:"clusterDeleted"`
	// Plan is what down was to delete; with --dry-run, the only content.
	Plan *DownPlan `json:"plan,omitempty"`
}

// DownObject is the outcome of one object's deletion.
type DownObject struct {
	Ref     object.Ref    `json:"ref"`
	Outcome prune.Outcome `json:"outcome"`
	Reason  string        `json:"reason,omitempty"`
}

// Record adds a teardown's outcomes to the report.
func (r *DownReport) Record(res *engine.TeardownResult) {
	r.InventoryDeleted = res.InventoryDeleted
	for _, it := range res.Items {
		r.Objects = append(r.Objects, DownObject{Ref: it.Entry.Ref, Outcome: it.Outcome, Reason: it.Reason})
	}
}

// WriteDown prints the report: as JSON, or one line of what was deleted
// and kept; incomplete says that the teardown failed part-way.
func WriteDown(w io.Writer, format string, r *DownReport, incomplete bool) error {
	if IsData(format) {
		return WriteData(w, format, r)
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
	fmt.Fprintln(w, msg+".")
	return nil
}

// DownEvents prints the steps of a teardown: each hook and each object as
// it is dealt with.
func DownEvents(out io.Writer) func(engine.Event) {
	return func(e engine.Event) {
		switch e.Type {
		case engine.Notice:
			fmt.Fprintf(out, "%s.\n", Sentence(e.Message))
		case engine.HookDone:
			if e.Err == nil {
				fmt.Fprintf(out, "✓ %s hook %s\n", e.Message, e.Object)
			} else {
				fmt.Fprintf(out, "✗ %s hook %s: %s\n", e.Message, e.Object, FirstLine(e.Err.Error()))
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

// DownPlan is what `envctl down` is about to delete, shown before it asks.
type DownPlan struct {
	Environment string `json:"environment"`
	// Kinds counts the objects to delete per kind ("Deployment.apps").
	Kinds []KindCount `json:"kinds"`
	// Namespaces are the namespaces the objects are in, and those deleted.
	Namespaces []string `json:"namespaces"`
	Objects    int      `json:"objects"`
	// Cluster is the cluster reached; ClusterDeleted says whether down
	// deletes it too.
	Cluster        string `json:"cluster,omitempty"`
	ClusterDeleted bool   `json:"clusterDeleted"`
}

// KindCount is how many objects of a kind down deletes.
type KindCount struct {
	Kind  string `json:"kind"`
	Count int    `json:"count"`
}

// PlanDown summarizes inv (nil: nothing to delete) on cluster t for the
// confirmation.
func PlanDown(env string, inv *inventory.Inventory, t *cluster.Target, deleteCluster bool) *DownPlan {
	p := &DownPlan{Environment: env, Kinds: []KindCount{}, Namespaces: []string{}, ClusterDeleted: deleteCluster}
	p.Cluster = t.Name
	if t.Provider == nil && t.Config != nil {
		p.Cluster = t.Config.Host
	}
	if inv == nil {
		return p
	}
	counts := map[string]int{}
	for _, e := range inv.Entries {
		kind := e.Kind
		if e.Group != "" {
			kind += "." + e.Group
		}
		counts[kind]++
		ns := e.Namespace
		if e.Group == "" && e.Kind == "Namespace" {
			ns = e.Name
		}
		if ns != "" && !slices.Contains(p.Namespaces, ns) {
			p.Namespaces = append(p.Namespaces, ns)
		}
	}
	for k, n := range counts {
		p.Kinds = append(p.Kinds, KindCount{Kind: k, Count: n})
	}
	slices.SortFunc(p.Kinds, func(a, b KindCount) int { return strings.Compare(a.Kind, b.Kind) })
	slices.Sort(p.Namespaces)
	p.Objects = len(inv.Entries)
	return p
}

// Empty reports whether down has nothing to delete.
func (p *DownPlan) Empty() bool { return p.Objects == 0 && !p.ClusterDeleted }

// What names what down deletes, for the question it asks: "3 objects and
// cluster envctl-ci".
func (p *DownPlan) What() string {
	if p.ClusterDeleted {
		return Plural(p.Objects, "object") + " and cluster " + p.Cluster
	}
	return Plural(p.Objects, "object")
}

// Write prints the plan for a person.
func (p *DownPlan) Write(w io.Writer) {
	if p.Empty() {
		fmt.Fprintf(w, "Environment %s: nothing to delete on cluster %s.\n", p.Environment, p.Cluster)
		return
	}
	fmt.Fprintf(w, "envctl down %s deletes, on cluster %s:\n", p.Environment, p.Cluster)
	if p.Objects > 0 {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, k := range p.Kinds {
			fmt.Fprintf(tw, "  %d\t%s\n", k.Count, k.Kind)
		}
		_ = tw.Flush()
		fmt.Fprintf(w, "  %s in all", Plural(p.Objects, "object"))
		if len(p.Namespaces) > 0 {
			fmt.Fprintf(w, ", in namespaces %s", strings.Join(p.Namespaces, ", "))
		}
		fmt.Fprintln(w)
	}
	if p.ClusterDeleted {
		fmt.Fprintf(w, "  and then the cluster %s itself, with everything in it\n", p.Cluster)
	}
}

// WriteDownPlan is --dry-run's output: the plan, as JSON or for a person.
func WriteDownPlan(w io.Writer, format string, p *DownPlan) error {
	if IsData(format) {
		return WriteData(w, format, p)
	}
	p.Write(w)
	return nil
}

// Confirm shows the plan on out and asks on a terminal (tty: both in and
// out are one); without one, it requires yes (--yes). Nothing to delete
// needs no answer, nor does yes.
func (p *DownPlan) Confirm(in io.Reader, out io.Writer, tty, yes bool) error {
	if p.Empty() || yes {
		return nil
	}
	p.Write(out)
	if !tty {
		return errs.Inputf("envctl down deletes %s and asks first; with no terminal to ask on, pass --yes (or --dry-run to see the list only)", p.What())
	}
	fmt.Fprint(out, "Delete them? [y/N] ")
	answer, _ := bufio.NewReader(in).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(answer)) {
	case "y", "yes":
		return nil
	}
	return errs.Inputf("envctl down %s: not confirmed; nothing was deleted", p.Environment)
}
