package engine

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/envctl/envctl/internal/apply"
	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/health"
	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/kube"
	"github.com/envctl/envctl/internal/object"
	"github.com/envctl/envctl/internal/render"
	"github.com/envctl/envctl/internal/testhook"
)

// renderFunc renders the declared state for a run whose previous
// inventory is prev: the releases prev holds render as upgrades.
type renderFunc func(ctx context.Context, prev *inventory.Inventory) (*render.Result, error)

// InventoryStore keeps an environment's inventory in the cluster.
// *inventory.Store is the implementation.
type InventoryStore interface {
	Load(ctx context.Context, env string) (*inventory.Inventory, error)
	Save(ctx context.Context, inv *inventory.Inventory) (bool, error)
}

// runOptions configure one reconcile; the verbs of Engine build them.
type runOptions struct {
	Policy
	// Environment is the environment, defaults applied (config.Load does).
	Environment *config.Environment
	// Settings are the repo-wide settings (apply and prune).
	Settings config.Settings
	// Revision is the source revision being applied, recorded in the inventory.
	Revision string
	// Repository names the repository the environment is applied from,
	// recorded in the inventory. A run from another repository than the
	// inventory's stops with a conflict unless Adopt is set: two
	// repositories that both call an environment "ci" must not prune each
	// other's objects.
	Repository string
	// Render produces the declared state.
	Render renderFunc
	// RenderAll renders every component of the environment. A run limited
	// with Components calls it before pruning, so that an object that moved
	// to a component outside the run is not pruned by a run of its old
	// one. Without it (or when it fails) such a run prunes nothing.
	RenderAll renderFunc
	// Client reaches the cluster.
	Client *kube.Client
	// Inventory defaults to an *inventory.Store on State.
	Inventory InventoryStore
	// State reaches envctl's own records; Client's when nil.
	State kubernetes.Interface
	// ServiceAccount is whom Client acts as (Config.ServiceAccount): every
	// object is checked against its RBAC before any is written.
	ServiceAccount string
	// SecretKey returns the cluster's fingerprint key, creating it when
	// create is set; it defaults to the inventory store's.
	SecretKey func(ctx context.Context, create bool) ([]byte, error)

	// OnEvent receives progress, one call at a time.
	OnEvent func(Event)
	Logger  *slog.Logger
}

// reconcile brings the cluster to the environment's declared state and
// returns what it did. The error is nil only when every component applied
// and became healthy and prune (if it ran) succeeded; it is classified
// (errs) by the first problem, for the exit code.
func reconcile(ctx context.Context, opts runOptions) (*Result, error) {
	r, err := newRun(opts)
	if err != nil {
		return nil, err
	}
	prev, err := r.loadInventory(ctx)
	if err != nil {
		return r.finish(err)
	}
	if prev != nil {
		r.stored = prev.Version
	}
	rendered, err := r.render(ctx, prev)
	if err != nil {
		return r.finish(err)
	}
	if err := r.checkAccess(ctx, rendered); err != nil {
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
	opts    runOptions
	env     string
	applier *apply.Manager
	checker *health.Checker
	log     *slog.Logger
	start   time.Time
	result  *Result

	// runComponent is r.component; unit tests of the scheduling replace it.
	runComponent func(ctx context.Context, c *render.Component, prev *inventory.Inventory, previous map[object.Key]apply.Recorded, live *apply.Live) ComponentResult

	// stored is the version of the inventory this run last read or wrote,
	// the only one its saves may replace ("" for none stored).
	stored string

	eventMu sync.Mutex
	mu      sync.Mutex
	errs    []error
}

func newRun(opts runOptions) (*run, error) {
	if opts.Environment == nil || opts.Environment.Name() == "" {
		return nil, fmt.Errorf("reconcile: no environment")
	}
	if opts.Client == nil || opts.Render == nil {
		return nil, fmt.Errorf("reconcile %s: no cluster client or renderer", opts.Environment.Name())
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.State == nil {
		opts.State = opts.Client.Clientset
	}
	if opts.Inventory == nil {
		opts.Inventory = inventory.NewStore(opts.State)
	}
	opts.ForceConflicts = opts.ForceConflicts || opts.Settings.Apply.ForceConflicts
	env := opts.Environment.Name()
	r := &run{
		opts:    opts,
		env:     env,
		applier: newWriter(opts.Client, opts.Settings, opts.Logger),
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
func (r *run) render(ctx context.Context, prev *inventory.Inventory) (*render.Result, error) {
	r.emit(Event{Type: RenderStarted})
	testhook.Reached(ctx, testhook.Render)
	res, err := r.opts.Render(ctx, prev)
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
	get := r.opts.SecretKey
	if store, ok := r.opts.Inventory.(interface {
		SecretKey(ctx context.Context, create bool) ([]byte, error)
	}); ok && get == nil {
		get = store.SecretKey
	}
	if get == nil {
		return nil
	}
	key, err := get(ctx, hasSecret(rendered))
	if err != nil {
		return fmt.Errorf("environment %s: %w", r.env, err)
	}
	r.applier.UseSecretKey(key)
	return nil
}

// newWriter is the one object writer of a run, with the settings' field
// manager and concurrency.
func newWriter(client *kube.Client, settings config.Settings, log *slog.Logger) *apply.Manager {
	return apply.NewManager(client, apply.ManagerOptions{
		FieldManager: settings.Apply.FieldManager,
		Concurrency:  settings.Apply.Concurrency,
		Logger:       log,
	})
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
