package engine

import (
	"context"
	"fmt"

	"github.com/envctl/envctl/internal/apply"
	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/object"
	"github.com/envctl/envctl/internal/prune"
	"github.com/envctl/envctl/internal/render"
)

// prune deletes what the previous inventory has and this run did not apply,
// only when every component applied (and, unless --no-wait, became
// healthy): after any failure the render may be incomplete, and deleting
// then could take down what the failed part was meant to replace. An
// interrupted run (Ctrl-C) never prunes. It returns nil when prune did not
// run.
func (r *run) prune(ctx context.Context, prev *inventory.Inventory, rendered *render.Result) *prune.Result {
	skip := func(why string) *prune.Result {
		r.result.PruneSkipped = why
		r.emit(Event{Type: PruneSkipped, Message: why})
		return nil
	}
	switch {
	case r.opts.NoPrune:
		return skip("disabled by --no-prune")
	case ctx.Err() != nil:
		return skip("the run was interrupted")
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
	opts := r.opts.Policy.pruneOptions(prune.Options{
		Environment:    r.env,
		Previous:       prev,
		Current:        current,
		Components:     r.opts.Components,
		ApplySucceeded: true,
		Settings:       r.opts.Settings.Prune,
		Rendered:       renderedCounts(rendered),
		Declared:       componentNames(r.opts.Environment),
		OnItem: func(it prune.Item) {
			r.emit(Event{Type: ObjectPruned, Component: it.Entry.Component, Object: it.Entry.Ref.String(), Action: string(it.Outcome), Message: it.Reason, Err: it.Err})
		},
		Logger: r.log,
	})
	if len(r.opts.Components) > 0 && len(prune.Candidates(opts)) > 0 {
		opts.Elsewhere, opts.ElsewhereUnknown = r.declaredElsewhere(ctx, prev)
	}
	if r.opts.NoWait {
		r.result.HealthNotChecked = true
		r.emit(Event{Type: Notice, Message: "prune runs after every apply succeeded; health was not checked (--no-wait)"})
	}
	res, err := prune.Run(ctx, r.opts.Client, opts)
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

// declaredElsewhere renders the components outside a --component run and
// maps each object they declare to its component, so that prune never
// deletes an object that moved to one of them. It reports true when they
// could not be rendered: prune then holds every candidate.
func (r *run) declaredElsewhere(ctx context.Context, prev *inventory.Inventory) (map[object.Key]string, bool) {
	if r.opts.RenderAll == nil {
		return nil, true
	}
	all, err := r.opts.RenderAll(ctx, prev)
	if err != nil {
		r.log.Warn("could not render the components outside this run; prune holds every candidate", "err", err)
		return nil, true
	}
	return declaredOutside(all, func(name string) bool { return r.result.Component(name) != nil }), false
}

// declaredOutside maps each object that the components of all outside the
// run (inRun says which are in it) declare to its component.
func declaredOutside(all *render.Result, inRun func(component string) bool) map[object.Key]string {
	out := map[object.Key]string{}
	for _, c := range all.Components {
		if inRun(c.Name) {
			continue
		}
		for _, o := range c.Objects {
			out[object.RefOf(o).Key()] = c.Name
		}
	}
	return out
}

// renderedCounts counts the objects (hooks included) of each component.
func renderedCounts(res *render.Result) map[string]int {
	out := map[string]int{}
	for _, c := range res.Components {
		out[c.Name] = len(c.Objects) + len(c.Hooks)
	}
	return out
}

// componentNames lists the components the environment declares.
func componentNames(env *config.Environment) []string {
	out := []string{}
	for _, c := range env.Spec.Components {
		out = append(out, c.Name)
	}
	return out
}
