// Package engine runs envctl's pipeline for one environment: load the
// previous inventory, render, then for each component (following the
// dependsOn graph, independent components side by side) run its pre hooks,
// apply, wait for health and run its post hooks; prune what is no longer
// declared once everything succeeded; save the inventory; and report.
//
// The engine knows nothing of terminals or flags: progress goes out as
// Events to a callback, and the outcome comes back as a Result.
package engine

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/envctl/envctl/internal/apply"
	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/health"
	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/kube"
	"github.com/envctl/envctl/internal/render"
	"github.com/envctl/envctl/internal/testhook"
)

// RenderFunc renders the environment's declared state. The CLI passes one
// that calls render.Render with the snapshot and settings; benchmarks pass
// generated objects.
type RenderFunc func(ctx context.Context) (*render.Result, error)

// InventoryStore keeps an environment's inventory in the cluster.
// *inventory.Store is the implementation.
type InventoryStore interface {
	Load(ctx context.Context, env string) (*inventory.Inventory, error)
	Save(ctx context.Context, inv *inventory.Inventory) (bool, error)
}

// Options configure one reconcile.
type Options struct {
	// Environment is the environment, defaults applied (config.Load does).
	Environment *config.Environment
	// Settings are the repo-wide settings (apply and prune).
	Settings config.Settings
	// Revision is the source revision being applied, recorded in the inventory.
	Revision string
	// Repository names the repository the environment is applied from
	// (config.yaml's metadata.name), recorded in the inventory. A run from
	// another repository than the inventory's stops with a conflict unless
	// Adopt is set: two repositories that both call an environment "ci"
	// must not prune each other's objects.
	Repository string
	// Render produces the declared state.
	Render RenderFunc
	// Client reaches the cluster.
	Client *kube.Client
	// Inventory defaults to an *inventory.Store on Client.
	Inventory InventoryStore

	// Components limits the run to these components (and leaves the
	// inventory entries of the others alone). Prune is limited likewise.
	Components []string
	// RenderAll renders every component of the environment. A run limited
	// with Components calls it before pruning, so that an object that moved
	// to a component outside the run is not pruned by a run of its old
	// one. Without it (or when it fails) such a run prunes nothing.
	RenderAll RenderFunc
	// Adopt takes over objects labelled for another environment, and the
	// environment from another repository; without it both are conflicts.
	Adopt bool
	// ForceConflicts takes over fields owned by other managers; it is
	// also on when Settings.Apply.ForceConflicts is.
	ForceConflicts bool
	// ForceRecreate deletes and recreates objects whose change touches an
	// immutable field.
	ForceRecreate bool
	// ForcePrune lifts prune's empty-render and max-fraction guards.
	ForcePrune bool
	// NoPrune skips prune.
	NoPrune bool
	// NoWait skips the health wait (hooks are still waited for, since each
	// phase needs the previous one done).
	NoWait bool
	// Timeout, when set, replaces every component's health timeout.
	Timeout time.Duration

	// OnEvent receives progress, one call at a time.
	OnEvent func(Event)
	Logger  *slog.Logger
}

// Reconcile brings the cluster to the environment's declared state and
// returns what it did. The error is nil only when every component applied
// and became healthy and prune (if it ran) succeeded; it is classified
// (errs) by the first problem, for the exit code.
func Reconcile(ctx context.Context, opts Options) (*Result, error) {
	r, err := newRun(opts)
	if err != nil {
		return nil, err
	}
	prev, err := r.loadInventory(ctx)
	if err != nil {
		return r.finish(err)
	}
	// Releases whose objects the previous inventory holds render as
	// upgrades (.Release.IsUpgrade), the others as installs.
	rctx := render.WithInstalled(ctx, func(component string) bool { return hadComponent(prev, component) })
	rendered, err := r.render(rctx)
	if err != nil {
		return r.finish(err)
	}
	if err := r.useSecretKey(ctx, rendered); err != nil {
		return r.finish(err)
	}
	if err := r.recordIntent(ctx, prev, rendered); err != nil {
		return r.finish(err)
	}
	r.applyComponents(ctx, rendered, prev)
	pruned := r.prune(ctx, prev, rendered)
	r.saveInventory(ctx, prev, pruned)
	return r.finish(r.failure())
}

// run is the state of one Reconcile.
type run struct {
	opts    Options
	env     string
	applier *apply.Manager
	checker *health.Checker
	log     *slog.Logger
	start   time.Time
	result  *Result

	// runComponent is r.component; unit tests of the scheduling replace it.
	runComponent func(ctx context.Context, c *render.Component, prev *inventory.Inventory, previous map[inventory.Key]apply.Recorded, live *apply.Live) ComponentResult

	eventMu sync.Mutex
	mu      sync.Mutex
	errs    []error
}

func newRun(opts Options) (*run, error) {
	if opts.Environment == nil || opts.Environment.Name() == "" {
		return nil, fmt.Errorf("reconcile: no environment")
	}
	if opts.Client == nil || opts.Render == nil {
		return nil, fmt.Errorf("reconcile %s: no cluster client or renderer", opts.Environment.Name())
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Inventory == nil {
		opts.Inventory = inventory.NewStore(opts.Client.Clientset)
	}
	opts.ForceConflicts = opts.ForceConflicts || opts.Settings.Apply.ForceConflicts
	env := opts.Environment.Name()
	r := &run{
		opts: opts,
		env:  env,
		applier: apply.NewManager(opts.Client, apply.ManagerOptions{
			FieldManager: opts.Settings.Apply.FieldManager,
			Concurrency:  opts.Settings.Apply.Concurrency,
			Logger:       opts.Logger,
		}),
		checker: health.NewChecker(opts.Client, opts.Logger),
		log:     opts.Logger.With("environment", env),
		start:   time.Now(),
		result:  &Result{Environment: env, Revision: opts.Revision},
	}
	r.runComponent = r.component
	return r, nil
}

// render runs the renderer and reports a failure as the run's error: a
// render failure applies nothing and prunes nothing.
func (r *run) render(ctx context.Context) (*render.Result, error) {
	r.emit(Event{Type: RenderStarted})
	testhook.Reached(ctx, testhook.Render)
	res, err := r.opts.Render(ctx)
	if err != nil {
		r.emit(Event{Type: RenderFailed, Err: err})
		return nil, fmt.Errorf("render environment %s: %w", r.env, err)
	}
	n := 0
	for _, c := range res.Components {
		n += len(c.Objects)
	}
	r.emit(Event{Type: RenderDone, Objects: n, Message: plural(len(res.Components), "component") + ", " + plural(n, "object")})
	return res, nil
}

// fail records a component's error for the run's result.
func (r *run) fail(err error) {
	r.mu.Lock()
	r.errs = append(r.errs, err)
	r.mu.Unlock()
}

// failure is the run's error: nil, or one error per failed stage.
func (r *run) failure() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.errs) == 0 {
		return nil
	}
	return &Error{Environment: r.env, Errs: append([]error(nil), r.errs...)}
}

// useSecretKey gives the applier the cluster's fingerprint key, created
// when the render holds a Secret and there is none yet: Secrets get keyed
// digests, never plain hashes of their values.
func (r *run) useSecretKey(ctx context.Context, rendered *render.Result) error {
	store, ok := r.opts.Inventory.(interface {
		SecretKey(ctx context.Context, create bool) ([]byte, error)
	})
	if !ok {
		return nil
	}
	key, err := store.SecretKey(ctx, hasSecret(rendered))
	if err != nil {
		return fmt.Errorf("environment %s: %w", r.env, err)
	}
	r.applier.UseSecretKey(key)
	return nil
}

func hasSecret(rendered *render.Result) bool {
	for _, c := range rendered.Components {
		for _, o := range c.Objects {
			if kube.IsSecret(o) {
				return true
			}
		}
		for _, h := range c.Hooks {
			if kube.IsSecret(h.Object) {
				return true
			}
		}
	}
	return false
}

// finish completes the result.
func (r *run) finish(err error) (*Result, error) {
	r.result.Duration = time.Since(r.start)
	r.result.Succeeded = err == nil
	r.emit(Event{Type: Finished, Err: err})
	return r.result, err
}
