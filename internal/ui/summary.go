package ui

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/envctl/envctl/internal/engine"
	"github.com/envctl/envctl/internal/health"
	"github.com/envctl/envctl/internal/prune"
)

// ClusterInfo is the cluster a reconcile ran against, for the summary.
type ClusterInfo struct {
	Name     string `json:"name,omitempty"`
	Provider string `json:"provider,omitempty"`
	Context  string `json:"context,omitempty"`
	// CurrentContext says whether Context is kubectl's current context
	// (up makes it so when the kubeconfig had none).
	CurrentContext bool `json:"currentContext,omitempty"`
	Created        bool `json:"created,omitempty"`
}

// Summary is what `-o json` prints after a reconcile.
type Summary struct {
	Environment     string             `json:"environment"`
	Revision        string             `json:"revision,omitempty"`
	Cluster         ClusterInfo        `json:"cluster"`
	Succeeded       bool               `json:"succeeded"`
	DurationSeconds float64            `json:"durationSeconds"`
	Components      []ComponentSummary `json:"components"`
	Pruned          []string           `json:"pruned"`
	PruneSkipped    []ObjectReason     `json:"pruneSkipped,omitempty"`
	// PruneHeld are objects a prune guard kept (they stay recorded), each
	// with its guard.
	PruneHeld   []ObjectReason `json:"pruneHeld,omitempty"`
	PruneNotRun string         `json:"pruneNotRun,omitempty"`
	// HealthNotChecked says that prune ran without a health check (--no-wait).
	HealthNotChecked bool `json:"healthNotChecked,omitempty"`
	// Adopted are the objects this run took over, and whose they were.
	Adopted []ObjectReason `json:"adopted,omitempty"`
	// InventoryRebuilt is how many objects a lost inventory was rebuilt from.
	InventoryRebuilt int           `json:"inventoryRebuilt,omitempty"`
	Requests         RequestCounts `json:"requests"`
	// Warnings are things the run did not do as declared, such as
	// webhooks the embedded cluster skips; each is said once.
	Warnings []string `json:"warnings,omitempty"`
}

// RequestCounts are the API requests a run made to the cluster; writes
// include every POST, PUT, PATCH and DELETE.
type RequestCounts struct {
	Total  int `json:"total"`
	Writes int `json:"writes"`
}

// ComponentSummary is one component of a Summary.
type ComponentSummary struct {
	Name            string                `json:"name"`
	State           engine.State          `json:"state"`
	Reason          string                `json:"reason,omitempty"`
	Counts          engine.Counts         `json:"counts"`
	Changed         []ObjectChange        `json:"changed,omitempty"`
	NotReady        []health.ObjectStatus `json:"notReady,omitempty"`
	Hooks           []engine.HookResult   `json:"hooks,omitempty"`
	DurationSeconds float64               `json:"durationSeconds"`
}

// ObjectChange is one object a component wrote (or failed to).
type ObjectChange struct {
	Object string `json:"object"`
	Action string `json:"action"`
	Error  string `json:"error,omitempty"`
}

// ObjectReason is an object and why something was or was not done to it.
type ObjectReason struct {
	Object string `json:"object"`
	Reason string `json:"reason"`
	// Guard is the prune guard that kept the object, for PruneHeld.
	Guard prune.Guard `json:"guard,omitempty"`
}

// Summarize turns a reconcile's result into its summary.
func Summarize(res *engine.Result, cl ClusterInfo, reqs RequestCounts) Summary {
	s := Summary{
		Requests:         reqs,
		Environment:      res.Environment,
		Revision:         res.Revision,
		Cluster:          cl,
		Succeeded:        res.Succeeded,
		DurationSeconds:  res.Duration.Seconds(),
		Pruned:           []string{},
		PruneNotRun:      res.PruneSkipped,
		HealthNotChecked: res.HealthNotChecked && res.Prune != nil,
		InventoryRebuilt: res.InventoryRebuilt,
		Warnings:         res.Warnings,
	}
	for _, c := range res.Components {
		cs := ComponentSummary{
			Name: c.Name, State: c.State, Reason: c.Reason, Counts: c.Counts,
			NotReady: c.NotReady, Hooks: c.Hooks, DurationSeconds: c.Duration.Seconds(),
		}
		for _, ch := range c.Changes {
			if ch.Adopted != "" {
				s.Adopted = append(s.Adopted, ObjectReason{Object: ch.Ref.String(), Reason: ch.Adopted})
			}
			if ch.Action == "unchanged" {
				continue
			}
			oc := ObjectChange{Object: ch.Ref.String(), Action: string(ch.Action)}
			if ch.Err != nil {
				oc.Error = ch.Err.Error()
			}
			cs.Changed = append(cs.Changed, oc)
		}
		s.Components = append(s.Components, cs)
	}
	if res.Prune != nil {
		s.summarizePrune(res.Prune)
	}
	return s
}

func (s *Summary) summarizePrune(r *prune.Result) {
	for _, it := range r.With(prune.Pruned) {
		s.Pruned = append(s.Pruned, it.Entry.Ref.String())
	}
	for _, it := range r.With(prune.Skipped) {
		s.PruneSkipped = append(s.PruneSkipped, ObjectReason{Object: it.Entry.Ref.String(), Reason: it.Reason})
	}
	for _, it := range r.With(prune.Held) {
		s.PruneHeld = append(s.PruneHeld, ObjectReason{Object: it.Entry.Ref.String(), Reason: it.Reason, Guard: it.Guard})
	}
}

// WriteSummary prints the per-component summary of res, then what prune
// did and the warnings; format is text or json.
func WriteSummary(w io.Writer, format string, res *engine.Result, cl ClusterInfo, reqs RequestCounts) error {
	s := Summarize(res, cl, reqs)
	if IsData(format) {
		return WriteData(w, format, s)
	}
	if err := s.writeTable(w); err != nil {
		return err
	}
	s.writeNotes(w)
	verdict := "is up to date"
	if !s.Succeeded {
		verdict = "did not fully converge"
	}
	at := ""
	if s.Revision != "" {
		at = " at " + s.Revision
	}
	fmt.Fprintf(w, "\nenvironment %s %s%s (%s, %s, %s)\n", s.Environment, verdict, at, Round(res.Duration),
		Plural(s.Requests.Total, "request"), Plural(s.Requests.Writes, "write"))
	return nil
}

// writeTable prints a line per component, then why each that failed or
// was skipped did.
func (s *Summary) writeTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COMPONENT\tSTATE\tCREATED\tCHANGED\tUNCHANGED\tPRUNED\tTIME")
	for _, c := range s.Components {
		took := "-"
		if c.State != engine.Skipped {
			took = Round(time.Duration(c.DurationSeconds * float64(time.Second))).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\n", c.Name, c.State, c.Counts.Created, c.Counts.Changed(), c.Counts.Unchanged, c.Counts.Pruned, took)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, c := range s.Components {
		if c.State == engine.Failed || c.State == engine.Skipped {
			fmt.Fprintf(w, "\n%s %s: %s\n", c.Name, c.State, indent(c.Reason))
		}
	}
	return nil
}

// writeKept prints what each prune guard kept, a guard at a time, with
// how to lift it: the objects stay in the cluster and in the inventory.
func (s *Summary) writeKept(w io.Writer) {
	var order []prune.Guard
	byGuard := map[prune.Guard][]ObjectReason{}
	for _, p := range s.PruneHeld {
		if _, ok := byGuard[p.Guard]; !ok {
			order = append(order, p.Guard)
		}
		byGuard[p.Guard] = append(byGuard[p.Guard], p)
	}
	for _, g := range order {
		name := "a guard"
		if g != "" {
			name = "the " + string(g) + " guard"
		}
		fmt.Fprintf(w, "\nkept by %s (lifted by %s; --force-prune lifts every guard):\n", name, g.Lift())
		for _, p := range byGuard[g] {
			fmt.Fprintf(w, "  %s: %s\n", p.Object, p.Reason)
		}
	}
}

// writeNotes prints what prune did and did not do, adoptions and warnings.
func (s *Summary) writeNotes(w io.Writer) {
	if len(s.Pruned) > 0 {
		fmt.Fprintf(w, "\npruned %s:\n", Plural(len(s.Pruned), "object"))
		for _, p := range s.Pruned {
			fmt.Fprintf(w, "  %s\n", p)
		}
	}
	for _, p := range s.PruneSkipped {
		fmt.Fprintf(w, "not pruned: %s: %s\n", p.Object, p.Reason)
	}
	s.writeKept(w)
	for _, a := range s.Adopted {
		fmt.Fprintf(w, "adopted: %s: %s; envctl manages it for environment %s from now on\n", a.Object, a.Reason, s.Environment)
	}
	if s.InventoryRebuilt > 0 {
		fmt.Fprintf(w, "note: the inventory was missing and was rebuilt from the labels of %s\n", Plural(s.InventoryRebuilt, "object"))
	}
	if s.HealthNotChecked {
		fmt.Fprintln(w, "note: prune ran after every apply succeeded, but health was not checked (--no-wait)")
	}
	if len(s.Warnings) > 0 {
		fmt.Fprintln(w)
		for _, warn := range s.Warnings {
			fmt.Fprintf(w, "warning: %s\n", warn)
		}
	}
}
