package ui

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/envctl/envctl/internal/cluster"
	"github.com/envctl/envctl/internal/cluster/kubeconfig"
)

// ClusterResult is what `cluster create -o json` prints.
type ClusterResult struct {
	cluster.Info
	// KubeconfigFile is where the context was written; empty for an
	// existing cluster, whose context is the user's own.
	KubeconfigFile string `json:"kubeconfigFile,omitempty"`
	// Reason says why auto chose the provider.
	Reason string `json:"reason,omitempty"`
	// CurrentContext says whether Context is now kubectl's current context.
	CurrentContext bool `json:"currentContext,omitempty"`
	// Written is what the kubeconfig write did, for the summary.
	Written kubeconfig.Written `json:"-"`
}

// NewClusterResult reports a cluster that create made ready.
func NewClusterResult(c *cluster.Created) ClusterResult {
	r := ClusterResult{Info: c.Info, Reason: c.Reason, Written: c.Written}
	if c.Written.Path != "" {
		r.Context, r.KubeconfigFile, r.CurrentContext = c.Written.Context, c.Written.Path, c.Written.Current
	}
	return r
}

// WriteClusterResult prints r as JSON, or tells the user what they have
// and how to reach it.
func WriteClusterResult(w io.Writer, format string, r ClusterResult) error {
	if IsData(format) {
		return WriteData(w, format, r)
	}
	fmt.Fprintf(w, "Cluster %s is ready: %s, Kubernetes %s, %s.\n", r.Name, r.Provider, r.Version, Plural(r.Nodes, "node"))
	fmt.Fprintf(w, "  server:  %s\n", r.Server)
	if r.Registry != "" {
		fmt.Fprintf(w, "  registry: %s (docker push %s/IMAGE:TAG; pods pull the same name)\n", r.Registry, r.Registry)
	}
	if r.Context == "" {
		return nil
	}
	where := ""
	if r.KubeconfigFile != "" {
		where = " in " + r.KubeconfigFile
		if r.CurrentContext {
			where += " (current)"
		}
	}
	fmt.Fprintf(w, "  context: %s%s\n", r.Context, where)
	fmt.Fprintf(w, "Try: %s --context %s get nodes\n", kubectl(r.Written), r.Context)
	if hint := UseContextHint(r.Written); hint != "" {
		fmt.Fprintln(w, Sentence(hint))
	}
	return nil
}

// WriteContextWritten says where `cluster kubeconfig` wrote the context,
// and how to switch to it when it is not current.
func WriteContextWritten(w io.Writer, written kubeconfig.Written) {
	current := ""
	if written.Current {
		current = " (current)"
	}
	fmt.Fprintf(w, "Wrote context %s to %s%s.\n", written.Context, written.Path, current)
	if hint := UseContextHint(written); hint != "" {
		fmt.Fprintln(w, Sentence(hint))
	}
}

// WriteReach says, after up's summary, how to reach the cluster through
// the context it wrote.
func WriteReach(w io.Writer, written kubeconfig.Written) {
	fmt.Fprintf(w, "reach the cluster with: %s --context %s get pods -A\n", kubectl(written), written.Context)
	if hint := UseContextHint(written); hint != "" {
		fmt.Fprintln(w, hint)
	}
}

// UseContextHint is the line a summary adds when envctl wrote a context
// that is not kubectl's current one (the user had chosen another, or
// --set-context=false): how to switch. Empty when there is nothing to say.
func UseContextHint(w kubeconfig.Written) string {
	if w.Path == "" || w.Current {
		return ""
	}
	if w.Previous != "" {
		return fmt.Sprintf("the current context is still %s; switch with: %s config use-context %s", w.Previous, kubectl(w), w.Context)
	}
	return fmt.Sprintf("switch to it with: %s config use-context %s", kubectl(w), w.Context)
}

// kubectl is the command that reaches the context written: with
// --kubeconfig when it went to a file the user named, which kubectl does
// not read unless told.
func kubectl(w kubeconfig.Written) string {
	if !w.Named || w.Path == "" {
		return "kubectl"
	}
	p := w.Path
	if strings.ContainsAny(p, " \t\n'\"$`\\;&|<>()*?[]#~") {
		p = "'" + strings.ReplaceAll(p, "'", `'\''`) + "'"
	}
	return "kubectl --kubeconfig " + p
}

// WriteClusters prints the clusters as a JSON list, or as a table on out
// with ages counted to now (with none, it says so on errOut).
func WriteClusters(out, errOut io.Writer, format string, all []cluster.Info, now time.Time) error {
	if IsData(format) {
		return WriteData(out, format, all)
	}
	if len(all) == 0 {
		fmt.Fprintln(errOut, "No clusters.")
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tPROVIDER\tSTATUS\tSERVER\tVERSION\tNODES\tAGE")
	for _, c := range all {
		nodes := "-"
		if c.Nodes > 0 {
			nodes = strconv.Itoa(c.Nodes)
		}
		age := "-"
		if !c.Created.IsZero() {
			age = HumanAge(now.Sub(c.Created))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Name, c.Provider, c.Status, dash(c.Server), dash(c.Version), nodes, age)
	}
	// The table is best effort: a failed write to the terminal changes
	// nothing about the command's outcome.
	_ = tw.Flush()
	return nil
}

// HumanAge prints an age the way kubectl does: 45s, 12m, 5h, 3d.
func HumanAge(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// WriteLoaded says, per image, which nodes `cluster load` copied it into
// and which had it already; or prints the same as JSON.
func WriteLoaded(w io.Writer, format, name string, loaded []cluster.LoadedImage) error {
	if IsData(format) {
		return WriteData(w, format, loaded)
	}
	for _, l := range loaded {
		switch {
		case len(l.Loaded) == 0:
			fmt.Fprintf(w, "%s: already on every node of %s\n", l.Image, name)
		case len(l.Present) == 0:
			fmt.Fprintf(w, "%s: loaded into %s\n", l.Image, strings.Join(l.Loaded, ", "))
		default:
			fmt.Fprintf(w, "%s: loaded into %s (already on %s)\n", l.Image, strings.Join(l.Loaded, ", "), strings.Join(l.Present, ", "))
		}
	}
	return nil
}

// WritePrune prints what `envctl cluster prune` removed (or, in a dry
// run, would remove) and what it kept.
func WritePrune(w io.Writer, format string, r *cluster.PruneResult) error {
	if IsData(format) {
		return WriteData(w, format, r)
	}
	verb := "Deleted"
	if r.DryRun {
		verb = "Would delete"
	}
	for _, e := range r.Removed {
		if e.Error != "" {
			fmt.Fprintf(w, "Could not delete %s cluster %s (%s): %s\n", e.Provider, e.Name, e.Reason, e.Error)
			continue
		}
		fmt.Fprintf(w, "%s %s cluster %s: %s.\n", verb, e.Provider, e.Name, e.Reason)
	}
	if len(r.Removed) == 0 {
		fmt.Fprintln(w, "No cluster to prune.")
	}
	if len(r.Kept) > 0 {
		fmt.Fprintf(w, "Kept %s.\n", Plural(len(r.Kept), "cluster"))
	}
	return nil
}
