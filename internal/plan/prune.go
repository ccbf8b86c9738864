package plan

import (
	"context"
	"fmt"

	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/prune"
)

// planPrune adds the objects the apply would prune, as prune itself would
// judge them: it reads each candidate (a dry-run prune) to tell those it
// would delete from those a guard would keep (each with its guard and how
// to lift it) and those it would leave alone, and warns when the apply
// would refuse to prune at all.
func (c *computer) planPrune(ctx context.Context, p *Plan, current []inventory.Entry) error {
	opts := prune.Options{
		Environment:      c.opts.Environment,
		Previous:         c.opts.Previous,
		Current:          current,
		Components:       c.opts.Components,
		ApplySucceeded:   true,
		Settings:         c.opts.Prune,
		Force:            c.opts.ForcePrune,
		Removed:          c.opts.PruneRemoved,
		Empty:            c.opts.PruneEmpty,
		CRDs:             c.opts.PruneCRDs,
		Rendered:         c.opts.Rendered,
		Declared:         c.opts.Declared,
		Elsewhere:        c.opts.Elsewhere,
		ElsewhereUnknown: c.opts.ElsewhereUnknown,
		DryRun:           true,
		Concurrency:      c.opts.Concurrency,
		Logger:           c.opts.Logger,
	}
	candidates := prune.Candidates(opts)
	if len(candidates) == 0 {
		return nil
	}
	if !prune.Enabled(opts.Settings) {
		p.Warnings = append(p.Warnings, fmt.Sprintf("prune is disabled (prune.enabled: false): %d objects no longer declared stay in the cluster", len(candidates)))
		for _, e := range candidates {
			p.Items = append(p.Items, Item{Ref: e.Ref, Component: e.Component, Action: Orphan, Note: "prune is disabled"})
		}
		return nil
	}
	if err := prune.Check(opts); err != nil {
		p.Warnings = append(p.Warnings, "the apply would prune nothing: "+err.Error())
	}
	// A refused prune comes back with every candidate held by the guard
	// that refused it, and its error, which the warning above says.
	res, err := prune.Run(ctx, c.client, opts)
	if res == nil {
		return err
	}
	for _, it := range res.Items {
		item := Item{Ref: it.Entry.Ref, Component: it.Entry.Component}
		switch it.Outcome {
		case prune.Held:
			item.Action, item.Note = Held, "not deleted: "+it.Reason
		case prune.Pruned:
			item.Action = Prune
		case prune.Skipped:
			item.Action, item.Note = Orphan, "not deleted: "+it.Reason
		case prune.Failed:
			item.Action, item.Error, item.err = Error, it.Err.Error(), it.Err
		default:
			// Already gone: nothing for the apply to do.
			continue
		}
		p.Items = append(p.Items, item)
	}
	return nil
}
