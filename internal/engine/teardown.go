package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/health"
	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/object"
	"github.com/envctl/envctl/internal/prune"
	"github.com/envctl/envctl/internal/render"
)

// Applied returns what envctl last applied for the declared environment:
// its inventory, or, when that is missing, one rebuilt from the labels of
// the environment's objects (said by a Notice); nil when there is none and
// nothing is labelled. An inventory of another repository is a conflict
// unless the policy adopts.
func (e *Engine) Applied(ctx context.Context, req Request) (*inventory.Inventory, error) {
	if e.client == nil {
		return nil, errOffline
	}
	d := req.Declared
	name := d.Env.Name()
	inv, err := inventory.NewStore(e.State()).Load(ctx, name)
	if err == nil {
		if err := CheckRepository(inv, d.Repository(), req.Policy.Adopt); err != nil {
			return nil, err
		}
		return inv, nil
	}
	if !errors.Is(err, inventory.ErrNotFound) {
		return nil, err
	}
	rebuilt, skipped, err := RebuildInventory(ctx, e.client, name, d.Repository(), nil)
	if err != nil {
		return nil, fmt.Errorf("environment %s has no inventory; looking for its objects: %w", name, err)
	}
	notice := func(format string, args ...any) {
		if req.OnEvent != nil {
			req.OnEvent(Event{Type: Notice, Message: fmt.Sprintf(format, args...)})
		}
	}
	if len(skipped) > 0 {
		notice("could not look for objects in API groups %s (their discovery failed)", strings.Join(skipped, ", "))
	}
	if len(rebuilt.Entries) == 0 {
		return nil, nil
	}
	notice("the inventory of environment %s was missing; rebuilt it from the labels of %s", name, plural(len(rebuilt.Entries), "object"))
	return rebuilt, nil
}

// TeardownResult is what Teardown did with each object of the inventory.
type TeardownResult struct {
	// Items are the outcomes, in the order the objects were deleted.
	Items []prune.Item
	// InventoryDeleted says the inventory itself is gone.
	InventoryDeleted bool
}

// Teardown deletes everything inv (from Applied) lists, as `helm uninstall`
// does for charts: the pre-delete hooks of the releases it holds, then the
// objects in the reverse of the apply order, waiting until each is gone,
// then the post-delete hooks, then the Namespaces those hooks ran in, and
// last the inventory. Ownership labels, envctl.dev/prune: disabled and
// (unless the policy forces prune) the CRD guard are honoured. When
// something cannot be deleted the inventory keeps it, so that a later
// teardown tries again. withHooks false skips the hooks.
func (e *Engine) Teardown(ctx context.Context, req Request, inv *inventory.Inventory, withHooks bool) (*TeardownResult, error) {
	if e.client == nil {
		return nil, errOffline
	}
	res := &TeardownResult{}
	var err error
	if inv != nil {
		t := &teardown{e: e, req: req, inv: inv, withHooks: withHooks, hooks: e.hookRun(req)}
		err = t.run(ctx, res)
	}
	if err == nil {
		version := ""
		if inv != nil {
			version = inv.Version
		}
		if err = inventory.NewStore(e.State()).DeleteVersion(ctx, req.Declared.Env.Name(), version); err == nil {
			res.InventoryDeleted = true
		}
		return res, err
	}
	// Everything not dealt with stays recorded: what failed or a guard
	// held, the Namespaces held back for post-delete hooks, and what the
	// run never reached.
	left := inv.Replace(inv.Components, notDealtWith(inv, res.Items))
	left.AppliedAt = inv.AppliedAt
	if _, serr := inventory.NewStore(e.State()).Save(ctx, left); serr != nil {
		err = errors.Join(err, serr)
	}
	return res, fmt.Errorf("environment %s is not fully down: %w; run `envctl down %s` again", inv.Environment, err, inv.Environment)
}

// teardown is the state of one Teardown.
type teardown struct {
	e         *Engine
	req       Request
	inv       *inventory.Inventory
	withHooks bool
	hooks     *run
	// rendered are the releases' components, in reverse apply order,
	// rendered once on first use.
	rendered []*render.Component
	done     bool
}

func (t *teardown) run(ctx context.Context, res *TeardownResult) error {
	name := t.inv.Environment
	if err := t.runHooks(ctx, render.PreDelete); err != nil {
		return fmt.Errorf("environment %s: nothing deleted: %w", name, err)
	}
	t.hooks.emit(Event{Type: Notice, Objects: len(t.inv.Entries), Message: fmt.Sprintf("deleting %s of environment %s", plural(len(t.inv.Entries), "object"), name)})
	// The Namespaces of releases with post-delete hooks go after the hooks.
	first, later, err := t.holdBack(ctx)
	if err != nil {
		return fmt.Errorf("environment %s: nothing deleted: %w", name, err)
	}
	pr, err := prune.Run(ctx, t.e.client, t.pruneOptions(first))
	if pr != nil {
		res.Items = append(res.Items, pr.Items...)
	}
	if err == nil {
		if err = t.runHooks(ctx, render.PostDelete); err == nil && later != nil {
			more, merr := prune.Run(ctx, t.e.client, t.pruneOptions(later))
			if more != nil {
				res.Items = append(res.Items, more.Items...)
			}
			err = merr
		}
	}
	var held []string
	for _, it := range res.Items {
		if it.Outcome == prune.Held {
			held = append(held, it.Entry.Ref.String())
		}
	}
	if len(held) > 0 {
		err = errors.Join(err, errs.Inputf("%s kept: custom resources envctl does not manage would be deleted with it; rerun `envctl down %s --prune-crds` to delete it and them",
			strings.Join(held, ", "), name))
	}
	return err
}

// pruneOptions delete everything prev lists, waiting until it is gone.
func (t *teardown) pruneOptions(prev *inventory.Inventory) prune.Options {
	return prune.Options{
		Environment:    prev.Environment,
		Previous:       prev,
		ApplySucceeded: true,
		// Everything goes, Namespaces included; the ownership labels,
		// envctl.dev/prune: disabled, helm.sh/resource-policy: keep and
		// (unless lifted) the CRD guard are still honoured.
		All:      true,
		Force:    t.req.Policy.ForcePrune,
		CRDs:     t.req.Policy.PruneCRDs,
		Settings: config.PruneSettings{AllowNamespaces: true, MaxFraction: 1},
		Wait:     true,
		Timeout:  t.timeout(),
		OnItem: func(it prune.Item) {
			t.hooks.emit(Event{Type: ObjectPruned, Component: it.Entry.Component, Object: it.Entry.Ref.String(), Action: string(it.Outcome), Message: it.Reason, Err: it.Err})
		},
		Logger: t.e.log,
	}
}

func (t *teardown) timeout() time.Duration {
	if t.req.Policy.Timeout > 0 {
		return t.req.Policy.Timeout
	}
	return defaultTimeout
}

// components renders, once, the Helm releases the inventory holds, as the
// repository declares them now, for their delete hooks. A render that
// fails stops the teardown before anything is deleted, since a pre-delete
// hook may be what keeps data safe.
func (t *teardown) components(ctx context.Context) ([]*render.Component, error) {
	if t.done {
		return t.rendered, nil
	}
	t.done = true
	env := t.req.Declared.Env
	var names []string
	for _, c := range env.Spec.Components {
		if c.Helm != nil && t.inv.Has(c.Name) {
			names = append(names, c.Name)
		}
	}
	if len(names) == 0 {
		return nil, nil
	}
	r, err := t.e.render(ctx, t.req.Declared, names, t.inv, nil)
	if err != nil {
		return nil, fmt.Errorf("render the delete hooks of environment %s: %w (run down with --no-hooks to delete without them)", env.Name(), err)
	}
	t.rendered = slices.Clone(r.Result.Components)
	slices.Reverse(t.rendered)
	return t.rendered, nil
}

// runHooks runs the delete hooks of phase, components in reverse apply
// order.
func (t *teardown) runHooks(ctx context.Context, phase render.HookPhase) error {
	if !t.withHooks {
		return nil
	}
	comps, err := t.components(ctx)
	if err != nil {
		return err
	}
	for _, c := range comps {
		var cr ComponentResult
		if err := t.hooks.runHooks(ctx, c, phase, t.timeout(), &cr); err != nil {
			return &DeleteHooksError{Component: c.Name, Phase: phase, Err: err}
		}
	}
	return nil
}

// holdBack splits the inventory: first what goes before the post-delete
// hooks run, later (nil when nothing is held back) the Namespaces those
// hooks run in, which go after them.
func (t *teardown) holdBack(ctx context.Context) (first, later *inventory.Inventory, err error) {
	if !t.withHooks {
		return t.inv, nil, nil
	}
	comps, err := t.components(ctx)
	if err != nil {
		return nil, nil, err
	}
	keep := map[string]bool{}
	for _, c := range comps {
		for _, h := range c.Hooks {
			if slices.Contains(h.Phases, render.PostDelete) {
				if ns := h.Object.GetNamespace(); ns != "" {
					keep[ns] = true
				}
			}
		}
	}
	var now, held []inventory.Entry
	for _, e := range t.inv.Entries {
		if e.Ref.Group == "" && e.Ref.Kind == "Namespace" && keep[e.Ref.Name] {
			held = append(held, e)
		} else {
			now = append(now, e)
		}
	}
	if len(held) == 0 {
		return t.inv, nil, nil
	}
	first = t.inv.Replace(t.inv.Components, now)
	first.AppliedAt = t.inv.AppliedAt
	later = t.inv.Replace(t.inv.Components, held)
	later.AppliedAt = t.inv.AppliedAt
	return first, later, nil
}

// notDealtWith returns the entries of inv that items did not delete or
// release (Skipped: left in place, no longer tracked).
func notDealtWith(inv *inventory.Inventory, items []prune.Item) []inventory.Entry {
	dealt := map[object.Key]bool{}
	for _, it := range items {
		switch it.Outcome {
		case prune.Pruned, prune.Gone, prune.Skipped:
			dealt[it.Entry.Key()] = true
		}
	}
	var out []inventory.Entry
	for _, e := range inv.Entries {
		if !dealt[e.Key()] {
			out = append(out, e)
		}
	}
	return out
}

// DeleteHooksError says which delete hook failed, so that down can stop
// before deleting what the hook was meant to run before.
type DeleteHooksError struct {
	Component string
	Phase     render.HookPhase
	Err       error
}

func (e *DeleteHooksError) Error() string {
	return fmt.Sprintf("component %s: %s hooks: %v", e.Component, e.Phase, e.Err)
}

func (e *DeleteHooksError) Unwrap() error { return e.Err }

// hookRun is a run that only runs hooks (down's delete hooks, test's chart
// tests), through the same writer and health checks as a reconcile.
func (e *Engine) hookRun(req Request) *run {
	d := req.Declared
	return &run{
		opts:    runOptions{Policy: req.Policy, Environment: d.Env, Settings: d.Settings(), Client: e.client, State: e.state, OnEvent: req.OnEvent, Logger: e.log},
		env:     d.Env.Name(),
		applier: newWriter(e.client, d.Settings(), e.log),
		checker: health.NewChecker(e.client, e.log),
		log:     e.log,
	}
}
