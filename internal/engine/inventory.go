package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/envctl/envctl/internal/apply"
	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/object"
	"github.com/envctl/envctl/internal/prune"
	"github.com/envctl/envctl/internal/render"
)

// SaveTimeout bounds the inventory save, which runs even when the run's
// context has ended: part of a daemon's shutdown (loop.ShutdownBudget).
const SaveTimeout = 30 * time.Second

// loadInventory reads what the previous run applied. An environment never
// applied has none, which is not an error. An inventory that is missing
// while objects labelled for the environment exist was lost (its namespace
// deleted, say): it is rebuilt from those labels, and the run says so. An
// inventory of another repository stops the run (see Options.Repository).
func (r *run) loadInventory(ctx context.Context) (*inventory.Inventory, error) {
	inv, err := r.opts.Inventory.Load(ctx, r.env)
	if errors.Is(err, inventory.ErrNotFound) {
		return r.recoverInventory(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("load the inventory of environment %s: %w", r.env, err)
	}
	if err := CheckRepository(inv, r.opts.Repository, r.opts.Adopt); err != nil {
		return nil, err
	}
	return inv, nil
}

// recoverInventory rebuilds a lost inventory from the labels of the
// environment's objects; nil when there are none (a new environment).
func (r *run) recoverInventory(ctx context.Context) (*inventory.Inventory, error) {
	if r.opts.Client.Discovery == nil || r.opts.Client.Metadata == nil {
		return nil, nil
	}
	inv, skipped, err := RebuildInventory(ctx, r.opts.Client, r.env, r.opts.Repository, nil)
	if err != nil {
		return nil, fmt.Errorf("environment %s has no inventory; looking for its objects to rebuild it: %w", r.env, err)
	}
	if len(skipped) > 0 {
		r.log.Warn("could not look for the environment's objects in some API groups (their discovery failed)", "groups", skipped)
	}
	if len(inv.Entries) == 0 {
		return nil, nil
	}
	r.result.InventoryRebuilt = len(inv.Entries)
	r.emit(Event{Type: Notice, Message: fmt.Sprintf("the inventory of environment %s was missing, but %s labelled for it exist; rebuilt it from their labels (components: %s)",
		r.env, plural(len(inv.Entries), "object"), joinComma(inv.Components))})
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
		r.result.Inventory = prev
		return
	}
	// An interrupted run (Ctrl-C, a deadline) must still record what it
	// applied, or those objects would never be pruned: the save gets a
	// short time of its own. A run that lost its lock does not save: the
	// lock's fence stops the writes, and the save replaces only the
	// version this run read or wrote.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), SaveTimeout)
	defer cancel()
	saved, err := r.opts.Inventory.Save(ctx, next)
	if err != nil {
		r.fail(fmt.Errorf("save the inventory: %w", err))
		return
	}
	r.stored = next.Version
	r.result.InventorySaved = saved
	r.result.Inventory = next
	if saved {
		r.emit(Event{Type: InventorySaved, Objects: len(next.Entries), Message: plural(len(next.Entries), "object")})
	}
}

// unchangedInventory reports whether next records what prev does, the time
// of the apply aside.
func unchangedInventory(prev, next *inventory.Inventory) bool {
	return prev != nil &&
		prev.Environment == next.Environment &&
		prev.Repository == next.Repository &&
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
	next := &inventory.Inventory{Environment: r.env, Repository: r.opts.Repository, Revision: r.opts.Revision, AppliedAt: time.Now().UTC(), Version: r.stored}
	if next.Repository == "" && prev != nil {
		next.Repository = prev.Repository
	}
	byKey := map[object.Key]inventory.Entry{}
	var order []object.Key
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
		dealt := map[object.Key]bool{}
		if pruned != nil && !pruned.Disabled && !pruned.DryRun {
			for _, it := range pruned.Items {
				if it.Outcome != prune.Failed && it.Outcome != prune.Held {
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

// recordIntent saves, before the first write, the previous inventory with
// every rendered object it lacks added, so that a run killed while it
// applies (SIGKILL, a crash, a lost node) never leaves a live object that
// its inventory does not list: the next run finds it there and prunes it if
// it is no longer declared. The added entries record no digest or owned
// fields; the final save replaces them with what was applied, and drops
// those that were not. Nothing is saved when the render adds nothing.
func (r *run) recordIntent(ctx context.Context, prev *inventory.Inventory, rendered *render.Result) error {
	known := prev.Index()
	if known == nil {
		known = map[object.Key]inventory.Entry{}
	}
	intent := &inventory.Inventory{Environment: r.env, Repository: r.opts.Repository, Entries: []inventory.Entry{}, Version: r.stored}
	if prev != nil {
		intent.Revision, intent.AppliedAt = prev.Revision, prev.AppliedAt
		intent.Components = slices.Clone(prev.Components)
		intent.Entries = slices.Clone(prev.Entries)
		if intent.Repository == "" {
			intent.Repository = prev.Repository
		}
	}
	added := 0
	for _, c := range rendered.Components {
		for _, o := range c.Objects {
			ref := r.normalizedRef(ctx, o)
			if _, ok := known[ref.Key()]; ok {
				continue
			}
			known[ref.Key()] = inventory.Entry{}
			intent.Entries = append(intent.Entries, inventory.Entry{Ref: ref, Component: c.Name})
			if !slices.Contains(intent.Components, c.Name) {
				intent.Components = append(intent.Components, c.Name)
			}
			added++
		}
	}
	if added == 0 {
		return nil
	}
	if intent.AppliedAt.IsZero() {
		intent.AppliedAt = time.Now().UTC()
	}
	intent.Sort()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), SaveTimeout)
	defer cancel()
	if _, err := r.opts.Inventory.Save(sctx, intent); err != nil {
		return fmt.Errorf("record the %s about to be applied in the inventory before applying them: %w", plural(added, "new object"), err)
	}
	r.stored = intent.Version
	r.log.Debug("recorded the objects about to be applied", "added", added)
	return nil
}

// normalizedRef is o's reference with its namespace as the apply will set
// it (apply.InScope). A kind the cluster does not serve yet is taken as
// rendered.
func (r *run) normalizedRef(ctx context.Context, o *unstructured.Unstructured) object.Ref {
	mapping, err := r.opts.Client.Mapper.Mapping(ctx, o.GroupVersionKind())
	if err != nil {
		return object.RefOf(o)
	}
	return object.RefOf(apply.InScope(o, mapping))
}
