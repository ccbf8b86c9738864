package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/object"
	"github.com/envctl/envctl/internal/plan"
)

// Plan computes what Reconcile would do with the request, without doing
// it: every object the run would write is written as a server-side
// dry-run by the same writer, compared with the live object, and the
// objects the run would prune are listed. It writes nothing, not even the
// fingerprint key. The plan comes back even when some objects' dry-runs
// failed (the error joins them); a nil plan means none could be computed.
func (e *Engine) Plan(ctx context.Context, req Request) (*plan.Plan, error) {
	if err := req.Policy.Validate(); err != nil {
		return nil, err
	}
	if e.client == nil {
		return nil, errOffline
	}
	d, p := req.Declared, req.Policy
	env := d.Env.Name()
	var notes []string
	prev, err := inventory.NewStore(e.State()).Load(ctx, env)
	if errors.Is(err, inventory.ErrNotFound) {
		// Lost, perhaps: the apply would rebuild it from the labels of the
		// environment's objects, and prune from that.
		rebuilt, _, rerr := RebuildInventory(ctx, e.client, env, d.Repository(), nil)
		if rerr != nil {
			return nil, rerr
		}
		prev, err = nil, nil
		if len(rebuilt.Entries) > 0 {
			prev = rebuilt
			notes = append(notes, fmt.Sprintf("the inventory of environment %s is missing; the apply would rebuild it from the labels of %s, as this plan does", env, plural(len(rebuilt.Entries), "object")))
		}
	}
	if err != nil {
		return nil, err
	}
	if err := CheckRepository(prev, d.Repository(), p.Adopt); err != nil {
		return nil, err
	}
	r, err := e.render(ctx, d, p.Components, prev, nil)
	if err != nil {
		return nil, err
	}
	// A run of some components never prunes what moved to another: the
	// others are rendered to know what they declare.
	var elsewhere map[object.Key]string
	elsewhereUnknown := false
	if len(p.Components) > 0 {
		if all, err := e.render(ctx, d, nil, prev, nil); err == nil {
			elsewhere = declaredOutside(all.Result, func(name string) bool { return slices.Contains(p.Components, name) })
		} else {
			elsewhereUnknown = true
		}
	}
	// Read, never created: a plan writes nothing.
	w, err := e.Writer(ctx, d)
	if err != nil {
		return nil, err
	}
	settings := d.Settings()
	pl, planErr := plan.Compute(ctx, e.client, w, r.Result, plan.Options{
		Environment:      env,
		ForceConflicts:   p.ForceConflicts || settings.Apply.ForceConflicts,
		Adopt:            p.Adopt,
		Sensitive:        e.sensitive(),
		Previous:         prev,
		Components:       p.Components,
		Prune:            settings.Prune,
		ForcePrune:       p.ForcePrune,
		PruneRemoved:     p.PruneRemoved,
		PruneEmpty:       p.PruneEmpty,
		PruneCRDs:        p.PruneCRDs,
		Rendered:         renderedCounts(r.Result),
		Declared:         componentNames(d.Env),
		Elsewhere:        elsewhere,
		ElsewhereUnknown: elsewhereUnknown,
		Concurrency:      settings.Apply.Concurrency,
		Logger:           e.log,
	})
	if pl == nil {
		return nil, planErr
	}
	pl.Revision = d.Revision()
	pl.Warnings = append(notes, pl.Warnings...)
	return pl, planErr
}
