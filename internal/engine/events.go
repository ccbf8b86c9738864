package engine

import (
	"time"

	"github.com/envctl/envctl/internal/apply"
	"github.com/envctl/envctl/internal/health"
)

// EventType says what an Event reports.
type EventType string

// Event types, roughly in the order a run emits them.
const (
	RenderStarted EventType = "render-started"
	RenderDone    EventType = "render-done"
	RenderFailed  EventType = "render-failed"
	// ComponentStarted: the component's dependencies are done and its
	// hooks and apply begin.
	ComponentStarted EventType = "component-started"
	// ObjectApplied: one object's apply outcome (Action), unchanged included.
	ObjectApplied EventType = "object-applied"
	// HookStarted and HookDone bracket one Helm hook.
	HookStarted EventType = "hook-started"
	HookDone    EventType = "hook-done"
	// Waiting: the objects of the component still not ready (Pending),
	// each time that set or their messages change.
	Waiting EventType = "waiting"
	// ComponentDone: the component ended; State says how.
	ComponentDone EventType = "component-done"
	// ObjectPruned: one prune outcome (Action is the prune outcome).
	ObjectPruned EventType = "object-pruned"
	// PruneSkipped: prune did not run; Message says why.
	PruneSkipped EventType = "prune-skipped"
	// InventorySaved: the inventory was written.
	InventorySaved EventType = "inventory-saved"
	// Notice: something the user should know that is not a step, such as a
	// rebuilt inventory or a prune guard; Message says it.
	Notice EventType = "notice"
	// Finished: the reconcile ended; Err is its error.
	Finished EventType = "finished"
)

// Event is one step of progress.
type Event struct {
	Type      EventType
	Time      time.Time
	Component string
	// Object names the object concerned: "Deployment.apps ml/web".
	Object string
	// Action is the apply action or prune outcome of Object.
	Action string
	// State is the component's final state, for ComponentDone.
	State State
	// Counts are the component's, for ComponentDone.
	Counts Counts
	// Objects is how many objects the component has, for ComponentStarted.
	Objects int
	// Pending are the objects not ready yet, for Waiting.
	Pending []health.ObjectStatus
	// Message is a human sentence: why skipped, what rendered.
	Message string
	Err     error
}

// emit delivers e to the callback, one at a time, so that the CLI's
// renderer need not lock.
func (r *run) emit(e Event) {
	if r.opts.OnEvent == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	r.eventMu.Lock()
	defer r.eventMu.Unlock()
	r.opts.OnEvent(e)
}

func objectEvent(component string, c apply.Change) Event {
	e := Event{Type: ObjectApplied, Component: component, Object: c.Ref.String(), Action: string(c.Action)}
	if c.Err != nil {
		e.Err = c.Err
	}
	return e
}
