// Package engine is envctl's composition root: it turns "this environment,
// from this source, on this cluster" into a run. It owns the loader of the
// declared state (Load), the one renderer, the policy, the object writer,
// and the verbs every driver calls: Reconcile (up, apply, sync, daemon),
// Plan (diff) and Teardown (down), plus Test and Status. A driver parses
// its flags into a Policy, loads the declared state, calls one verb and
// prints the Events it gets back; it never builds render or apply options.
//
// A reconcile loads the previous inventory, renders, then for each
// component (following the dependsOn graph, independent components side by
// side) runs its pre hooks, applies, waits for health and runs its post
// hooks; it prunes what is no longer declared once everything succeeded,
// saves the inventory and reports.
package engine

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/envctl/envctl/internal/apply"
	"github.com/envctl/envctl/internal/credential"
	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/kube"
	"github.com/envctl/envctl/internal/prune"
	"github.com/envctl/envctl/internal/render"
)

// Config is what an Engine needs besides the declared state: the cluster
// and the operator's own inputs to the render.
type Config struct {
	// Client reaches the cluster. Without one the engine only renders,
	// offline, for the cluster the environment would get.
	Client *kube.Client
	// DecryptionKeyFile holds age identities or OpenPGP keys for SOPS
	// files, besides those of SOPS_AGE_KEY and SOPS_AGE_KEY_FILE.
	DecryptionKeyFile string
	// SOPSKeyServices are the operator's sops key services, asked for the
	// SOPS data keys no local key opens.
	SOPSKeyServices []string
	// ChartCacheDir holds charts pulled from repositories and registries;
	// "" is render.DefaultChartCacheDir.
	ChartCacheDir string
	// Credentials are the operator's chart repository and registry
	// credentials by name, each bound to the hosts it may be sent to; a
	// release names one with helm.repoAuth.credential.
	Credentials credential.Set
	Logger      *slog.Logger
	// ServiceAccount, NAMESPACE:NAME, is the service account the
	// environment's objects are written as: the engine's client
	// impersonates it, while envctl's own records (inventory, Lease, sync
	// record, fingerprint key) are read and written with Client, which the
	// account need not reach (State). An environment that names another
	// service account is refused.
	ServiceAccount string
}

// Engine runs envctl's pipeline against one cluster. It is safe to use
// from one driver for many runs: the cluster's capabilities are discovered
// once and kept until RefreshCapabilities.
type Engine struct {
	client  *kube.Client
	keyFile string
	keySvcs []string
	charts  string
	creds   credential.Set
	log     *slog.Logger

	mu       sync.Mutex
	caps     *render.Capabilities
	lookup   *rest.Config
	recorded *kube.SecretValues
	key      []byte // the cluster's fingerprint key, once read

	serviceAccount string
	state          kubernetes.Interface
	// setupErr is why the client that impersonates serviceAccount could
	// not be made; every render reports it.
	setupErr error
}

// New returns an Engine for cfg.
func New(cfg Config) *Engine {
	e := &Engine{client: cfg.Client, keyFile: cfg.DecryptionKeyFile, keySvcs: cfg.SOPSKeyServices, charts: cfg.ChartCacheDir,
		creds: cfg.Credentials, log: cfg.Logger, serviceAccount: cfg.ServiceAccount}
	if cfg.Client != nil {
		e.state = cfg.Client.Clientset
		if cfg.ServiceAccount != "" {
			if c, err := Impersonate(cfg.Client, cfg.ServiceAccount); err == nil {
				e.client = c
			} else {
				e.setupErr = err
			}
		}
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	return e
}

// Client is the engine's cluster client; nil for an offline engine.
func (e *Engine) Client() *kube.Client { return e.client }

// State is the client of envctl's own records (inventory, Lease, sync
// record): Client's unless the engine writes objects as another service
// account (Config.ServiceAccount).
func (e *Engine) State() kubernetes.Interface { return e.state }

// Request is one run of a verb: what is declared, how to go about it, and
// who hears of the progress.
type Request struct {
	Declared *Declared
	Policy   Policy
	// Rendered, when set, is a render of Declared that Render made earlier
	// (the loop keeps one per revision); it is used unless the inventory
	// has changed since in a way that changes the render.
	Rendered *Rendering
	// Applied, when set, is the environment's inventory as the caller
	// holds it (the loop keeps the one its last run left); Render then
	// takes the installed releases from it instead of reading the cluster.
	// Reconcile still reads the stored one, and renders again should they
	// disagree.
	Applied *inventory.Inventory
	// OnEvent receives progress, one call at a time.
	OnEvent func(Event)
	// Shared, when set, lets Render share the work of components whose
	// inputs are the same with other renders given it (a preview's sides).
	Shared *render.Shared
}

// Policy is how a run goes about its work: the choices a person makes with
// flags, the same in every command and in the loop.
type Policy struct {
	// Components limits the run to these components (and leaves the
	// inventory entries of the others alone). Prune is limited likewise.
	Components []string
	// Timeout, when set, replaces every component's health timeout.
	Timeout time.Duration
	// ForceConflicts takes over fields owned by other managers; it is
	// also on when the settings' apply.forceConflicts is.
	ForceConflicts bool
	// ForceRecreate deletes and recreates objects whose change touches an
	// immutable field.
	ForceRecreate bool
	// ForcePrune lifts every prune guard at once: the removed-component,
	// empty-render, max-fraction and CRD guards (the four below lift one
	// each).
	ForcePrune bool
	// PruneRemoved confirms the removal of these components from the
	// environment: their objects are pruned. It lifts the removed-component
	// guard for them alone; the CRD, empty-render and max-fraction guards
	// keep holding.
	PruneRemoved []string
	// PruneEmpty lifts the empty-render guards: a run, or a component,
	// that renders nothing prunes what it applied before.
	PruneEmpty bool
	// PruneCRDs lifts the CRD guard: a CustomResourceDefinition is pruned
	// even while custom resources of it exist that envctl does not manage,
	// which go with it. (prune.maxFraction, the fourth guard, is a setting:
	// raising it is its override.)
	PruneCRDs bool
	// NoPrune skips prune.
	NoPrune bool
	// NoWait skips the health wait (hooks are still waited for, since each
	// phase needs the previous one done).
	NoWait bool
	// Adopt takes over objects labelled for another environment, and the
	// environment from another repository; without it both are conflicts.
	Adopt bool
}

// Validate reports a policy that contradicts itself.
func (p Policy) Validate() error {
	switch {
	case p.Timeout < 0:
		return errs.Input(fmt.Errorf("--timeout must not be negative, got %s", p.Timeout))
	case p.ForcePrune && p.NoPrune:
		return errs.Input(fmt.Errorf("--force-prune and --no-prune contradict each other"))
	case p.NoPrune && len(p.PruneRemoved) > 0:
		return errs.Input(fmt.Errorf("--prune-removed and --no-prune contradict each other"))
	case p.NoPrune && p.PruneEmpty:
		return errs.Input(fmt.Errorf("--prune-empty and --no-prune contradict each other"))
	case p.NoPrune && p.PruneCRDs:
		return errs.Input(fmt.Errorf("--prune-crds and --no-prune contradict each other"))
	}
	return nil
}

// pruneOptions are the prune options the policy sets: the overrides of
// the guards, the same for a reconcile, its plan and a teardown.
func (p Policy) pruneOptions(o prune.Options) prune.Options {
	o.Force = p.ForcePrune
	o.Removed = p.PruneRemoved
	o.Empty = p.PruneEmpty
	o.CRDs = p.PruneCRDs
	return o
}

// secretKey is the cluster's fingerprint key (inventory.Store.SecretKey),
// read once and kept; created when create is set and there is none. nil
// when there is none and create is not set.
func (e *Engine) secretKey(ctx context.Context, create bool) ([]byte, error) {
	e.mu.Lock()
	key := e.key
	e.mu.Unlock()
	if key != nil {
		return key, nil
	}
	key, err := inventory.NewStore(e.State()).SecretKey(ctx, create)
	if err != nil || key == nil {
		return key, err
	}
	e.mu.Lock()
	e.key = key
	e.mu.Unlock()
	return key, nil
}

// Writer is the one object writer for d's settings on the engine's
// cluster, with the cluster's fingerprint key when it has one: what the
// loop corrects drift with, as a reconcile would write.
func (e *Engine) Writer(ctx context.Context, d *Declared) (*apply.Manager, error) {
	if e.client == nil {
		return nil, errOffline
	}
	key, err := e.secretKey(ctx, false)
	if err != nil {
		return nil, err
	}
	w := newWriter(e.client, d.Settings(), e.log)
	w.UseSecretKey(key)
	return w, nil
}
