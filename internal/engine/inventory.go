package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/envctl/envctl/internal/apply"
	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/prune"
)

// saveTimeout bounds the inventory save, which runs even when the run's
// context has ended.
const saveTimeout = 30 * time.Second

// loadInventory reads what the previous run applied. An environment never
// applied has none, which is not an error.
func (r *run) loadInventory(ctx context.Context) (*inventory.Inventory, error) {
	inv, err := r.opts.Inventory.Load(ctx, r.env)
	if errors.Is(err, inventory.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load the inventory of environment %s: %w", r.env, err)
	}
	return inv, nil
}

// saveInventory records what is now applied, so the next run can skip
// unchanged objects and prune what disappears. It runs after failures too:
// objects that did get applied must be recorded, or a later prune would
// never find them. The store writes nothing when nothing changed.
func (r *run) saveInventory(ctx context.Context, prev *inventory.Inventory, pruned *prune.Result) {
	if r.result.Components == nil {
		return // nothing rendered, nothing applied
	}
	next := r.nextInventory(prev, pruned)
	if unchangedInventory(prev, next) {
		// What this run loaded is what it would store: the store's own
		// unchanged check would cost a LIST to find the same.
		return
	}
	// An interrupted run (Ctrl-C, a deadline) must still record what it
	// applied, or those objects would never be pruned: the save gets a
	// short time of its own.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), saveTimeout)
	defer cancel()
	saved, err := r.opts.Inventory.Save(ctx, next)
	if err != nil {
		r.fail(fmt.Errorf("save the inventory: %w", err))
		return
	}
	r.result.InventorySaved = saved
	if saved {
		r.emit(Event{Type: InventorySaved, Objects: len(next.Entries), Message: plural(len(next.Entries), "object")})
	}
}

// unchangedInventory reports whether next records what prev does, the time
// of the apply aside.
func unchangedInventory(prev, next *inventory.Inventory) bool {
	return prev != nil &&
		prev.Environment == next.Environment &&
		prev.Revision == next.Revision &&
		slices.Equal(prev.Components, next.Components) &&
		slices.Equal(prev.Entries, next.Entries)
}

// nextInventory is the inventory after this run:
//   - a component that succeeded is recorded as just applied;
//   - a component that failed or was skipped keeps its previous entries,
//     updated with whatever of it did get applied;
//   - components outside a --component run keep theirs untouched;
//   - an object the previous inventory had that was not applied now stays
//     recorded unless prune deleted it (or released it), so that a run
//     without prune, or a failed one, never loses track of it.
func (r *run) nextInventory(prev *inventory.Inventory, pruned *prune.Result) *inventory.Inventory {
	next := &inventory.Inventory{Environment: r.env, Revision: r.opts.Revision, AppliedAt: time.Now().UTC()}
	byKey := map[inventory.Key]inventory.Entry{}
	var order []inventory.Key
	put := func(e inventory.Entry) {
		k := e.Key()
		if _, ok := byKey[k]; !ok {
			order = append(order, k)
		}
		byKey[k] = e
	}
	for _, c := range r.result.Components {
		next.Components = append(next.Components, c.Name)
		if c.State == Failed || c.State == Skipped {
			if prev != nil {
				for _, e := range prev.ComponentEntries(c.Name) {
					put(e)
				}
			}
		}
		for _, ch := range c.Changes {
			if ch.Action != apply.Failed {
				put(ch.Entry(c.Name))
			}
		}
	}
	if prev != nil {
		for _, name := range prev.Components {
			if !slices.Contains(next.Components, name) {
				next.Components = append(next.Components, name)
			}
		}
		// Entries not applied now: dropped only when prune dealt with them.
		dealt := map[inventory.Key]bool{}
		if pruned != nil && !pruned.Disabled && !pruned.DryRun {
			for _, it := range pruned.Items {
				if it.Outcome != prune.Failed {
					dealt[it.Entry.Key()] = true
				}
			}
		}
		for _, e := range prev.Entries {
			if _, ok := byKey[e.Key()]; ok || dealt[e.Key()] {
				continue
			}
			put(e)
		}
		if prev.Revision != "" && r.opts.Revision == "" {
			next.Revision = prev.Revision
		}
	}
	for _, k := range order {
		next.Entries = append(next.Entries, byKey[k])
	}
	// Components that no longer hold anything are not listed.
	next.Components = slices.DeleteFunc(next.Components, func(name string) bool {
		for _, e := range next.Entries {
			if e.Component == name {
				return false
			}
		}
		return r.result.Component(name) == nil
	})
	next.Sort()
	return next
}
