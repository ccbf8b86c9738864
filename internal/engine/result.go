package engine

import (
	"fmt"
	"strings"
	"time"

	"github.com/envctl/envctl/internal/apply"
	"github.com/envctl/envctl/internal/health"
	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/prune"
)

// State is where a component ended up.
type State string

// Component states.
const (
	// Healthy: applied and every object became ready.
	Healthy State = "healthy"
	// Applied: applied, health not waited for (--no-wait or wait: false).
	Applied State = "applied"
	// Failed: a hook, the apply or the health wait failed.
	Failed State = "failed"
	// Skipped: not attempted because a component it depends on failed or
	// was skipped.
	Skipped State = "skipped"
)

// Result is the outcome of a reconcile.
type Result struct {
	Environment string            `json:"environment"`
	Revision    string            `json:"revision,omitempty"`
	Succeeded   bool              `json:"succeeded"`
	Components  []ComponentResult `json:"components"`
	// Prune is what prune did; nil when it did not run, and PruneSkipped
	// then says why.
	Prune        *prune.Result `json:"prune,omitempty"`
	PruneSkipped string        `json:"pruneSkipped,omitempty"`
	// InventorySaved says whether the inventory was written (it is not
	// when it did not change).
	InventorySaved bool `json:"inventorySaved"`
	// InventoryRebuilt is how many objects a lost inventory was rebuilt
	// from (their labels); 0 when it was not lost.
	InventoryRebuilt int `json:"inventoryRebuilt,omitempty"`
	// HealthNotChecked is set when prune ran after applies whose health was
	// not waited for (--no-wait).
	HealthNotChecked bool          `json:"healthNotChecked,omitempty"`
	Duration         time.Duration `json:"duration"`
	// Warnings are what the run did not do as declared, such as webhooks
	// the embedded cluster skips; each is said once.
	Warnings []string `json:"warnings,omitempty"`
	// Inventory is the inventory as the run left it; nil when it stopped
	// before applying anything or could not save it.
	Inventory *inventory.Inventory `json:"-"`
	// Rendered is the render the run applied; nil when the render failed.
	Rendered *Rendering `json:"-"`
}

// Component returns the result of the named component, or nil.
func (r *Result) Component(name string) *ComponentResult {
	for i := range r.Components {
		if r.Components[i].Name == name {
			return &r.Components[i]
		}
	}
	return nil
}

// Counts are the objects of a component by what happened to them.
type Counts struct {
	Created    int `json:"created"`
	Configured int `json:"configured"`
	Unchanged  int `json:"unchanged"`
	Recreated  int `json:"recreated"`
	Failed     int `json:"failed"`
	Pruned     int `json:"pruned"`
}

// Changed is the objects written to: configured plus recreated.
func (c Counts) Changed() int { return c.Configured + c.Recreated }

// ComponentResult is the outcome of one component.
type ComponentResult struct {
	Name  string `json:"name"`
	State State  `json:"state"`
	// Reason says why a component failed or was skipped.
	Reason string `json:"reason,omitempty"`
	Counts Counts `json:"counts"`
	// Changes lists each object's outcome.
	Changes []apply.Change `json:"changes,omitempty"`
	// NotReady lists the objects that were not ready when the wait ended.
	NotReady []health.ObjectStatus `json:"notReady,omitempty"`
	// Hooks lists the Helm hooks run, in order.
	Hooks    []HookResult  `json:"hooks,omitempty"`
	Duration time.Duration `json:"duration"`
	// Err is the component's error, classified.
	Err error `json:"-"`
}

// HookResult is one Helm hook run.
type HookResult struct {
	Object string `json:"object"`
	Phase  string `json:"phase"`
	// Deleted says whether a delete policy removed it afterwards.
	Deleted bool   `json:"deleted,omitempty"`
	Error   string `json:"error,omitempty"`
}

// Error is a reconcile that did not fully succeed: one error per failed
// component (or stage). It unwraps to each, so errs.KindOf classifies the
// whole by the first.
type Error struct {
	Environment string
	Errs        []error
}

func (e *Error) Error() string {
	if len(e.Errs) == 1 {
		return fmt.Sprintf("environment %s: %v", e.Environment, e.Errs[0])
	}
	var b strings.Builder
	fmt.Fprintf(&b, "environment %s: %d problems:", e.Environment, len(e.Errs))
	for _, err := range e.Errs {
		b.WriteString("\n- " + strings.ReplaceAll(err.Error(), "\n", "\n  "))
	}
	return b.String()
}

// Unwrap returns the errors, in the order they happened.
func (e *Error) Unwrap() []error { return e.Errs }
