package cli

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/envctl/envctl/internal/cluster"
	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/inventory"
)

// downPlan is what `envctl down` is about to delete, shown before it asks.
type downPlan struct {
	Environment string `json:"environment"`
	// Kinds counts the objects to delete per kind ("Deployment.apps").
	Kinds []kindCount `json:"kinds"`
	// Namespaces are the namespaces the objects are in, and those deleted.
	Namespaces []string `json:"namespaces"`
	Objects    int      `json:"objects"`
	// Cluster is the cluster reached; ClusterDeleted says whether down
	// deletes it too.
	Cluster        string `json:"cluster,omitempty"`
	ClusterDeleted bool   `json:"clusterDeleted"`
}

type kindCount struct {
	Kind  string `json:"kind"`
	Count int    `json:"count"`
}

// planDown summarizes inv (nil: nothing to delete) for the confirmation.
func planDown(env string, inv *inventory.Inventory, t *cluster.Target, deleteCluster bool) *downPlan {
	p := &downPlan{Environment: env, Kinds: []kindCount{}, Namespaces: []string{}, ClusterDeleted: deleteCluster}
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
		p.Kinds = append(p.Kinds, kindCount{Kind: k, Count: n})
	}
	slices.SortFunc(p.Kinds, func(a, b kindCount) int { return strings.Compare(a.Kind, b.Kind) })
	slices.Sort(p.Namespaces)
	p.Objects = len(inv.Entries)
	return p
}

// empty reports whether down has nothing to delete.
func (p *downPlan) empty() bool { return p.Objects == 0 && !p.ClusterDeleted }

// write prints the plan for a person.
func (p *downPlan) write(w io.Writer) {
	if p.empty() {
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
		fmt.Fprintf(w, "  %s in all", plural(p.Objects, "object"))
		if len(p.Namespaces) > 0 {
			fmt.Fprintf(w, ", in namespaces %s", strings.Join(p.Namespaces, ", "))
		}
		fmt.Fprintln(w)
	}
	if p.ClusterDeleted {
		fmt.Fprintf(w, "  and then the cluster %s itself, with everything in it\n", p.Cluster)
	}
}

// printDownPlan is --dry-run's output: the plan, on stdout.
func printDownPlan(f *Factory, o *downOptions, r *downReport) error {
	if o.Output == "json" {
		return writeJSON(f.Streams.Out, r.Plan)
	}
	r.Plan.write(f.Streams.Out)
	return nil
}

// confirmDown shows the plan and asks on a terminal; without one, it
// requires --yes. Nothing to delete needs no answer.
func confirmDown(f *Factory, o *downOptions, p *downPlan) error {
	if p.empty() || o.Yes {
		return nil
	}
	out := f.Streams.ErrOut
	if !f.Streams.InTTY || !f.Streams.ErrTTY {
		p.write(out)
		return errs.Inputf("envctl down deletes %s%s and asks first; with no terminal to ask on, pass --yes (or --dry-run to see the list only)",
			plural(p.Objects, "object"), map[bool]string{true: " and cluster " + p.Cluster, false: ""}[p.ClusterDeleted])
	}
	p.write(out)
	fmt.Fprint(out, "Delete them? [y/N] ")
	answer, _ := bufio.NewReader(f.Streams.In).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(answer)) {
	case "y", "yes":
		return nil
	}
	return errs.Inputf("envctl down %s: not confirmed; nothing was deleted", p.Environment)
}
