// Package apply writes rendered objects to the cluster with server-side
// apply, the way envctl's pipeline needs it: in stages (definitions such as
// CRDs and Namespaces first, then everything else once the CRDs are
// established), with bounded concurrency, without writing objects that have
// not changed, and with conflicts and immutable-field changes reported as
// errors that name the object and the field.
//
// A Manager holds what does not change between calls (clients, field
// manager, the concurrency limit shared by every caller); each call to Apply
// takes an Options and returns a ChangeSet, plain data that the engine turns
// into progress, a summary and inventory entries.
package apply

import (
	"context"
	"log/slog"
	"time"

	"github.com/envctl/envctl/internal/kube"
	"github.com/envctl/envctl/internal/object"
)

// DefaultFieldManager is the field manager envctl applies as.
const DefaultFieldManager = "envctl"

// ManagerOptions configure a Manager.
type ManagerOptions struct {
	// FieldManager owns the fields envctl applies.
	FieldManager string
	// Concurrency bounds the apply requests in flight across every caller
	// of the Manager, so components applied side by side share one budget.
	Concurrency int
	// Logger receives debug logs; never object contents.
	Logger *slog.Logger
}

// DefaultManagerOptions are the settings envctl uses unless configured.
func DefaultManagerOptions() ManagerOptions {
	return ManagerOptions{FieldManager: DefaultFieldManager, Concurrency: 16}
}

// Manager applies objects to one cluster.
type Manager struct {
	client *kube.Client
	owner  string
	sem    chan struct{}
	log    *slog.Logger
	// fp computes the digests; it has the fingerprint key once
	// UseSecretKey gave it.
	fp kube.Fingerprints
}

// UseSecretKey gives the Manager the cluster's fingerprint key, with which
// Secrets get a digest (an HMAC) and can be found unchanged without a
// write. Call it before the first Apply; without it every Secret is sent.
func (m *Manager) UseSecretKey(key []byte) { m.fp = kube.Fingerprints{Key: key} }

// NewManager returns a Manager applying through client.
func NewManager(client *kube.Client, opts ManagerOptions) *Manager {
	def := DefaultManagerOptions()
	if opts.FieldManager == "" {
		opts.FieldManager = def.FieldManager
	}
	if opts.Concurrency < 1 {
		opts.Concurrency = def.Concurrency
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Manager{
		client: client,
		owner:  opts.FieldManager,
		sem:    make(chan struct{}, opts.Concurrency),
		log:    opts.Logger,
	}
}

// Options configure one Apply call.
type Options struct {
	// Selector is the label selector that finds the live objects of this
	// call (envctl.dev/environment=ENV,envctl.dev/component=NAME); the
	// unchanged check reads them with one LIST per kind, or takes them
	// from Live.
	Selector string
	// Live, when set, is the live state read beforehand for several Apply
	// calls (ReadLive). Its objects that match Selector are this call's
	// live objects; only kinds it does not cover are listed.
	Live *Live
	// Previous holds what the previous run recorded for each object, for
	// the unchanged check. An object without an entry is always applied.
	Previous map[object.Key]Recorded
	// Environment, when set, is the environment applying. A live object
	// labelled for another environment is not taken over: its apply fails
	// with an *OwnershipError (a conflict), unless Adopt is set. For the
	// check to see such objects, Selector must select every environment's
	// objects (ownership.LabelEnvironment, without a value).
	Environment string
	// Adopt takes over objects labelled for another environment.
	Adopt bool
	// ForceConflicts takes over fields owned by other managers.
	ForceConflicts bool
	// ForceRecreate deletes and recreates an object whose change touches an
	// immutable field. An object can also ask for it with the
	// envctl.dev/force-recreate annotation.
	ForceRecreate bool
	// CRDTimeout bounds the wait for CRDs to become established.
	CRDTimeout time.Duration
	// DeleteTimeout bounds the wait for an object being recreated to go.
	DeleteTimeout time.Duration
	// OnChange, when set, is called once for each object as soon as its
	// outcome is known, from concurrent goroutines.
	OnChange func(Change)
	// BeforeWrite, when set, is called once before the first write, and
	// not at all when every object is unchanged. Helm's pre-upgrade hooks
	// run here, so that a reconcile with nothing to do runs no hook. An
	// error stops the apply before anything is written.
	BeforeWrite func(ctx context.Context) error
}

// Recorded is what the inventory kept about an object after the last apply.
type Recorded struct {
	Digest string
	Fields string
}

// DefaultOptions returns Options with the default timeouts.
func DefaultOptions() Options {
	return Options{CRDTimeout: time.Minute, DeleteTimeout: 2 * time.Minute}
}

func (o *Options) defaults() {
	def := DefaultOptions()
	if o.CRDTimeout <= 0 {
		o.CRDTimeout = def.CRDTimeout
	}
	if o.DeleteTimeout <= 0 {
		o.DeleteTimeout = def.DeleteTimeout
	}
}
