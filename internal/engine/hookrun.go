package engine

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/envctl/envctl/internal/apply"
	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/health"
	"github.com/envctl/envctl/internal/kube"
	"github.com/envctl/envctl/internal/render"
)

// HookRunner runs the Helm hooks of rendered components outside a
// reconcile: the delete hooks around `envctl down`, and the chart tests of
// `envctl test`. Each hook is applied, waited for until it completed, and
// deleted according to its delete policies, as during a reconcile.
type HookRunner struct {
	run *run
}

// NewHookRunner returns a runner applying through client with the
// settings' field manager.
func NewHookRunner(client *kube.Client, settings config.Settings, log *slog.Logger, onEvent func(Event)) *HookRunner {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &HookRunner{run: &run{
		opts: Options{OnEvent: onEvent},
		applier: apply.NewManager(client, apply.ManagerOptions{
			FieldManager: settings.Apply.FieldManager,
			Concurrency:  settings.Apply.Concurrency,
			Logger:       log,
		}),
		checker: health.NewChecker(client, log),
		log:     log,
	}}
}

// Run runs the component's hooks of phase one after the other, each within
// timeout, and stops at the first that fails. The results list every hook
// that ran, the failed one included.
func (h *HookRunner) Run(ctx context.Context, c *render.Component, phase render.HookPhase, timeout time.Duration) ([]HookResult, error) {
	var res ComponentResult
	comp := c
	if phase == render.Test {
		// Tests are kept apart from the hooks a reconcile runs.
		comp = &render.Component{Name: c.Name, Hooks: c.Tests}
	}
	err := h.run.runHooks(ctx, comp, phase, timeout, &res)
	return res.Hooks, err
}

// HasHooks says whether the component has hooks of phase.
func HasHooks(c *render.Component, phase render.HookPhase) bool {
	hooks := c.Hooks
	if phase == render.Test {
		hooks = c.Tests
	}
	return slices.ContainsFunc(hooks, func(h *render.Hook) bool { return slices.Contains(h.Phases, phase) })
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
