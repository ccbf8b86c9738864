// Package plan computes what an apply would do, without doing it: every
// rendered object is sent as a server-side apply dry-run (same field manager
// and force setting as the real apply), and the result is compared with the
// live object. Each object is reported as created, changed (with a unified
// diff of its YAML, server noise removed and Secret values masked) or
// unchanged, followed by the objects the apply would prune. This is what
// `envctl diff` prints and what a CI merge gate reads.
package plan

import (
	"log/slog"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/object"
)

// Action is what an apply would do with one object.
type Action string

// Actions, in the order a reader cares about them.
const (
	// Create: the object does not exist.
	Create Action = "create"
	// Change: the object exists and the apply would change it.
	Change Action = "change"
	// Unchanged: the apply would change nothing.
	Unchanged Action = "unchanged"
	// Prune: the object is no longer declared and would be deleted.
	Prune Action = "prune"
	// Orphan: the object is no longer declared but prune would leave it in
	// the cluster (Note says why); envctl stops tracking it.
	Orphan Action = "orphan"
	// Held: the object is no longer declared but a prune guard keeps it
	// (Note says which and how to lift it); it stays recorded.
	Held Action = "held"
	// Error: the dry-run failed; Item.Error says why.
	Error Action = "error"
)

// Options configure Compute.
type Options struct {
	// Environment names the environment; its label selects the live objects.
	Environment string
	// ForceConflicts is the apply's.
	ForceConflicts bool
	// Previous is the environment's inventory, nil when never applied. It
	// gives the objects to prune and the owned-fields hashes that let an
	// unchanged object be reported without a dry-run request.
	Previous *inventory.Inventory
	// Components limits the prune list to these components, as for a run
	// limited with --component.
	Components []string
	// Prune and ForcePrune are the apply's prune settings, so the plan can
	// say when the apply would refuse to prune.
	Prune      config.PruneSettings
	ForcePrune bool
	// PruneRemoved, PruneEmpty and PruneCRDs are the apply's overrides of
	// single guards (prune.Options Removed, Empty and CRDs).
	PruneRemoved []string
	PruneEmpty   bool
	PruneCRDs    bool
	// Rendered, Declared, Elsewhere and ElsewhereUnknown feed prune's
	// per-component guards as the apply would (see prune.Options).
	Rendered         map[string]int
	Declared         []string
	Elsewhere        map[object.Key]string
	ElsewhereUnknown bool
	// Adopt plans the apply as taking over objects labelled for another
	// environment (--adopt); without it such an object is an error, as the
	// apply would fail for it.
	Adopt bool
	// Sensitive are values read from the cluster's Secrets while rendering
	// (a chart's lookup): wherever one shows in an object that is not a
	// Secret, the diff masks it as it masks a Secret's values.
	Sensitive []string
	// Concurrency bounds the requests in flight; default 16.
	Concurrency int
	// Context is the number of unchanged lines around each change; default 3.
	Context int
	Logger  *slog.Logger
}

// Item is the plan for one object.
type Item struct {
	Ref       object.Ref `json:"ref"`
	Component string     `json:"component,omitempty"`
	Action    Action     `json:"action"`
	// Diff is a unified diff of the object's YAML, live against after the
	// apply; for a create, against nothing. Secret values are masked.
	Diff string `json:"diff,omitempty"`
	// Note explains an unusual plan: a create shown without a dry-run, an
	// object adopted from outside envctl, a prune that would be skipped,
	// fields left to the controller that owns them (apply.AsSent).
	Note string `json:"note,omitempty"`
	// Error is the message of a failed dry-run, with Secret values withheld.
	Error string `json:"error,omitempty"`
	err   error
}

// Plan is what an apply of an environment would do.
type Plan struct {
	Environment string `json:"environment"`
	// Revision is the source revision the plan was computed from.
	Revision string `json:"revision,omitempty"`
	Items    []Item `json:"items"`
	// Warnings are things the apply would do differently from what the items
	// suggest, such as refusing to prune.
	Warnings []string `json:"warnings,omitempty"`
}

// Count returns the number of items with action a.
func (p *Plan) Count(a Action) int {
	n := 0
	for _, it := range p.Items {
		if it.Action == a {
			n++
		}
	}
	return n
}

// HasChanges reports whether the apply would change the cluster.
func (p *Plan) HasChanges() bool {
	return p.Count(Create)+p.Count(Change)+p.Count(Prune) > 0
}

// Err joins the errors of the items whose dry-run failed; nil when none did.
// Its class (errs.KindOf) is the first failure's.
func (p *Plan) Err() error {
	var list []error
	for _, it := range p.Items {
		if it.err != nil {
			list = append(list, it.err)
		}
	}
	return errs.Objects("failed", list)
}
