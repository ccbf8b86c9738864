package engine

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/envctl/envctl/internal/apply"
	"github.com/envctl/envctl/internal/health"
	"github.com/envctl/envctl/internal/object"
	"github.com/envctl/envctl/internal/render"
)

// hooksFor returns the component's hooks of phase in the order Helm runs
// them: by weight, then name, then kind order (Helm sorts by weight and
// name, keeping the kind order it listed them in).
func hooksFor(c *render.Component, phase render.HookPhase) []*render.Hook {
	var out []*render.Hook
	for _, h := range c.Hooks {
		if slices.Contains(h.Phases, phase) {
			out = append(out, h)
		}
	}
	slices.SortStableFunc(out, func(a, b *render.Hook) int {
		return cmp.Or(
			cmp.Compare(a.Weight, b.Weight),
			cmp.Compare(a.Object.GetName(), b.Object.GetName()),
			object.Compare(a.Object, b.Object),
		)
	})
	return out
}

// hasPolicy reports whether the hook has delete policy p. A hook with no
// policy gets before-hook-creation, as in Helm.
func hasPolicy(h *render.Hook, p string) bool {
	if len(h.DeletePolicies) == 0 {
		return p == render.HookBeforeCreation
	}
	return slices.Contains(h.DeletePolicies, p)
}

// runHooks runs the component's hooks of phase one after the other, each
// applied and then waited for until it completed (a Job) or succeeded (a
// Pod) or is ready (anything else). The first hook that fails fails the
// phase, and is deleted at once if its policy is hook-failed. As in Helm,
// hook-succeeded deletes only when the phase is over (the hooks before a
// failed one, or all of them), last hook first: a hook may need one that
// ran before it, as a Job needs the ServiceAccount it runs as. Hooks are
// not recorded in the inventory: like Helm, envctl leaves a hook it did not
// delete in place until the next run's before-hook-creation.
func (r *run) runHooks(ctx context.Context, c *render.Component, phase render.HookPhase, timeout time.Duration, res *ComponentResult) error {
	first := len(res.Hooks)
	var succeeded []*render.Hook
	var failed error
	for _, h := range hooksFor(c, phase) {
		name := object.RefOf(h.Object).String()
		r.emit(Event{Type: HookStarted, Component: c.Name, Object: name, Message: string(phase)})
		hr, err := r.runHook(ctx, h, timeout)
		hr.Object, hr.Phase = name, string(phase)
		res.Hooks = append(res.Hooks, hr)
		r.emit(Event{Type: HookDone, Component: c.Name, Object: name, Message: string(phase), Err: err})
		if err != nil {
			failed = fmt.Errorf("%s hook %s: %w", phase, name, err)
			break
		}
		succeeded = append(succeeded, h)
	}
	for i := len(succeeded) - 1; i >= 0; i-- {
		if h := succeeded[i]; hasPolicy(h, render.HookSucceeded) {
			if r.deleteHook(ctx, h) {
				res.Hooks[first+i].Deleted = true
			}
		}
	}
	return failed
}

func (r *run) runHook(ctx context.Context, h *render.Hook, timeout time.Duration) (HookResult, error) {
	var hr HookResult
	if hasPolicy(h, render.HookBeforeCreation) {
		if err := r.applier.Delete(ctx, h.Object, apply.DeleteOptions{Wait: true, Timeout: timeout}); err != nil {
			hr.Error = err.Error()
			return hr, err
		}
	}
	cs, err := r.applier.Apply(ctx, []*unstructured.Unstructured{h.Object}, apply.Options{
		ForceConflicts: true, // a hook is envctl's alone; nothing to defer to
		ForceRecreate:  true,
		DeleteTimeout:  timeout,
	})
	if err != nil {
		hr.Error = err.Error()
		return hr, err
	}
	_, werr := r.checker.Wait(ctx, objectsOf(cs), health.Options{Timeout: timeout, Mode: health.Complete})
	if werr != nil {
		hr.Error = werr.Error()
		if hasPolicy(h, render.HookFailed) {
			hr.Deleted = r.deleteHook(ctx, h)
		}
	}
	return hr, werr
}

// deleteHook deletes a hook its policy says to delete, and says whether it
// did; a failure is only logged, as the hook's outcome stands.
func (r *run) deleteHook(ctx context.Context, h *render.Hook) bool {
	if err := r.applier.Delete(ctx, h.Object, apply.DeleteOptions{}); err != nil {
		r.log.Warn("could not delete hook after it ran", "hook", object.RefOf(h.Object).String(), "err", err)
		return false
	}
	return true
}
