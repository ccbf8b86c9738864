package cli

import (
	"context"
	"fmt"
	"slices"

	"github.com/envctl/envctl/internal/engine"
	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/render"
	"github.com/envctl/envctl/internal/source"
)

// deleteHooks runs the pre-delete or post-delete hooks of the Helm releases
// that the inventory holds, as `helm uninstall` does: rendered from the
// repository as it is now, components in reverse apply order. The render
// happens once, on the first call; a render that fails stops down before
// anything is deleted, since a pre-delete hook may be what keeps data safe
// (--no-hooks goes on without them).
type deleteHooks struct {
	f      *Factory
	target *envTarget
	inv    *inventory.Inventory
	o      *downOptions

	rendered []*render.Component
	done     bool
}

func (d *deleteHooks) components(ctx context.Context) ([]*render.Component, error) {
	if d.done {
		return d.rendered, nil
	}
	d.done = true
	env := d.target.env
	var names []string
	for _, c := range env.Spec.Components {
		if c.Helm != nil && d.inv.Has(c.Name) {
			names = append(names, c.Name)
		}
	}
	if len(names) == 0 {
		return nil, nil
	}
	snap, err := source.Local(d.target.repo.Root)
	if err != nil {
		return nil, err
	}
	caps, err := clusterCapabilities(ctx, d.target.client, env, names)
	if err != nil {
		return nil, err
	}
	res, err := render.Render(ctx, render.Options{
		DecryptionKeyFile: d.f.Global.DecryptionKeyFile,
		Source:            snap, Environment: env, Settings: d.target.repo.Config.Spec.Render,
		Components: names, Logger: d.f.Logger, Capabilities: caps, Installed: d.inv.Has,
	})
	if err != nil {
		return nil, fmt.Errorf("render the delete hooks of environment %s: %w (run down with --no-hooks to delete without them)", env.Name(), err)
	}
	d.rendered = slices.Clone(res.Components)
	slices.Reverse(d.rendered)
	return d.rendered, nil
}

// run runs the hooks of phase, printing a line per hook.
func (d *deleteHooks) run(ctx context.Context, phase render.HookPhase) error {
	if d.o.NoHooks {
		return nil
	}
	comps, err := d.components(ctx)
	if err != nil {
		return err
	}
	out := d.f.Streams.ErrOut
	runner := engine.NewHookRunner(d.target.client, d.target.repo.Config.Spec, d.f.Logger, nil)
	for _, c := range comps {
		if !engine.HasHooks(c, phase) {
			continue
		}
		hooks, err := runner.Run(ctx, c, phase, d.o.Timeout)
		for _, h := range hooks {
			if h.Error == "" {
				fmt.Fprintf(out, "✓ %s hook %s\n", phase, h.Object)
			} else {
				fmt.Fprintf(out, "✗ %s hook %s: %s\n", phase, h.Object, h.Error)
			}
		}
		if err != nil {
			return &engine.DeleteHooksError{Component: c.Name, Phase: phase, Err: err}
		}
	}
	return nil
}

// holdBack splits the inventory for down: first what goes before the
// post-delete hooks run, later (nil when nothing is held back) the
// Namespaces those hooks run in, which go after them.
func (d *deleteHooks) holdBack(ctx context.Context, inv *inventory.Inventory) (first, later *inventory.Inventory, err error) {
	if d.o.NoHooks {
		return inv, nil, nil
	}
	comps, err := d.components(ctx)
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
	if len(keep) == 0 {
		return inv, nil, nil
	}
	var now, held []inventory.Entry
	for _, e := range inv.Entries {
		if e.Ref.Group == "" && e.Ref.Kind == "Namespace" && keep[e.Ref.Name] {
			held = append(held, e)
		} else {
			now = append(now, e)
		}
	}
	if len(held) == 0 {
		return inv, nil, nil
	}
	first = inv.Replace(inv.Components, now)
	first.AppliedAt = inv.AppliedAt
	later = inv.Replace(inv.Components, held)
	later.AppliedAt = inv.AppliedAt
	return first, later, nil
}
