package engine

import (
	"context"
	"fmt"

	"github.com/envctl/envctl/internal/apply"
	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/prune"
)

// prune deletes what the previous inventory has and this run did not apply,
// only when every component applied and became healthy: after any failure
// the render may be incomplete, and deleting then could take down what the
// failed part was meant to replace. It returns nil when prune did not run.
func (r *run) prune(ctx context.Context, prev *inventory.Inventory) *prune.Result {
	skip := func(why string) *prune.Result {
		r.result.PruneSkipped = why
		r.emit(Event{Type: PruneSkipped, Message: why})
		return nil
	}
	switch {
	case r.opts.NoPrune:
		return skip("disabled by --no-prune")
	case r.failure() != nil:
		return skip("not every component applied and became healthy")
	case prev == nil || len(prev.Entries) == 0:
		return skip("nothing was applied before")
	}
	var current []inventory.Entry
	for _, c := range r.result.Components {
		for _, ch := range c.Changes {
			if ch.Action != apply.Failed {
				current = append(current, ch.Entry(c.Name))
			}
		}
	}
	res, err := prune.Run(ctx, r.opts.Client, prune.Options{
		Environment:    r.env,
		Previous:       prev,
		Current:        current,
		Components:     r.opts.Components,
		ApplySucceeded: true,
		Settings:       r.opts.Settings.Prune,
		Force:          r.opts.ForcePrune,
		OnItem: func(it prune.Item) {
			r.emit(Event{Type: ObjectPruned, Component: it.Entry.Component, Object: it.Entry.Ref.String(), Action: string(it.Outcome), Message: it.Reason, Err: it.Err})
		},
		Logger: r.log,
	})
	if res != nil {
		r.result.Prune = res
		for _, it := range res.With(prune.Pruned) {
			if c := r.result.Component(it.Entry.Component); c != nil {
				c.Counts.Pruned++
			}
		}
		if res.Disabled {
			r.result.PruneSkipped = "disabled by prune.enabled: false"
		}
	}
	if err != nil {
		r.fail(fmt.Errorf("prune: %w", err))
	}
	return res
}
