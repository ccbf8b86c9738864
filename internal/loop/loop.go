// Package loop is the continuous reconcile loop that `envctl sync` and
// `envctl daemon` share. Triggers come in (the source moved, a watched
// object drifted, the resync timer, a request recorded by `envctl
// reconcile`/`suspend`/`resume`); out go one engine run or one single-object
// apply, the status record, logs and metrics.
//
// A new revision is rendered here, once, and the engine (one-shot, unaware
// of the loop) is given that render. The loop keeps the render in memory, so
// that a drifted object is put back with one server-side apply of that
// object and no new render; drift is found by internal/drift's
// metadata-only watches. While the engine runs, drift corrections wait: they
// would otherwise apply what the run is replacing.
//
// Failure rules: a failed fetch or render, or an engine run that failed,
// never prunes and never rolls back; the loop keeps the last good render
// (and keeps correcting drift from it), reports the error and retries with
// backoff. A revision that failed to render is not rendered again until
// the source moves or `envctl reconcile` asks.
package loop

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"k8s.io/client-go/metadata"

	"github.com/envctl/envctl/internal/apply"
	"github.com/envctl/envctl/internal/drift"
	"github.com/envctl/envctl/internal/engine"
	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/kube"
	"github.com/envctl/envctl/internal/metrics"
	"github.com/envctl/envctl/internal/notify"
	"github.com/envctl/envctl/internal/object"
	"github.com/envctl/envctl/internal/ownership"
	"github.com/envctl/envctl/internal/source"
	"github.com/envctl/envctl/internal/syncstate"
)

// Defaults of the loop's timing.
const (
	DefaultInterval = 30 * time.Second
	DefaultResync   = 10 * time.Minute
	// Jitter spreads the source polls of many loops: ±10%.
	Jitter = 0.1
	// ShutdownGrace bounds the object in flight when the loop stops; the
	// inventory save and the status write get as long again, so that the
	// process exits within ten seconds of SIGTERM.
	ShutdownGrace = 3 * time.Second
	// workers correct drifted objects side by side.
	workers = 4
)

// Retry backoff after a failed fetch or engine run.
const (
	retryBase = 2 * time.Second
	retryMax  = 5 * time.Minute
)

// Options configure a Loop.
type Options struct {
	// Environment is the environment's name, as the commands resolved it.
	Environment string
	// Load says where the declared state comes from (its Source is asked
	// for snapshots) and how each snapshot is loaded, overrides included.
	Load engine.LoadOptions
	// Engine renders and reconciles, on the cluster the loop keeps
	// converged.
	Engine *engine.Engine
	// Policy is the driver's; with Drift Correct, conflicts are always
	// forced.
	Policy engine.Policy
	// Mode is "sync" or "daemon", for the status record.
	Mode string
	// Holder names this process (lease.Identity).
	Holder string
	// Interval is how often the source is asked for its revision; zero
	// never polls (a local directory, whose file events Trigger the loop).
	Interval time.Duration
	// Resync is how often every watched object is checked again.
	Resync time.Duration
	// Drift is what to do about drift.
	Drift drift.Mode

	// Metrics receive the loop's instruments; nil makes a private set.
	Metrics *metrics.Metrics
	// Notify, when set, hears what the loop did (Kubernetes Events and the
	// operator's notifiers); it outlives the loop, its owner closes it.
	Notify *notify.Hub
	// OnEvent receives the progress of full reconciles.
	OnEvent func(engine.Event)
	Logger  *slog.Logger
}

// source is where the loop's declared state comes from.
func (o *Options) source() source.Source { return o.Load.Source }

// policy is the policy of the loop's full reconciles. Correcting drift
// means the declared state wins every field it declares: a full reconcile
// takes fields from other managers as a drift correction does, or a
// kubectl edit would fail it with a conflict until the correction came.
func (o *Options) policy() engine.Policy {
	p := o.Policy
	p.ForceConflicts = p.ForceConflicts || o.Drift == drift.Correct
	return p
}

// Loop keeps one environment converged while Run runs.
type Loop struct {
	opts    Options
	env     string
	client  *kube.Client
	log     *slog.Logger
	m       *metrics.Metrics
	records *syncstate.Store
	watcher *drift.Watcher
	queue   *queue

	// writeMu keeps drift corrections (readers) out while the engine
	// (the writer) runs.
	writeMu sync.RWMutex

	// sourceCh says the source may have moved; filesCh that local files
	// changed. Both coalesce.
	sourceCh chan struct{}
	filesCh  chan struct{}
	// apisCh says the cluster's served APIs changed: charts render again.
	apisCh chan struct{}
	disc   discoveryWatch
	// bg is the context of the work that lives as long as Run.
	bg context.Context

	mu       sync.Mutex
	cur      *desired
	expected map[object.Key]drift.Expected
	verified map[object.Key]string
	reported map[object.Key]string
	backoff  *drift.Backoff
	inv      *inventory.Inventory
	invDirty bool
	status   syncstate.Status
	ready    bool
	suspend  bool
	statusCh chan struct{}
	// writer is the object writer of the last run, which drift
	// corrections write with; owner is its field manager.
	writer *apply.Manager
	owner  string
}

// New returns a Loop; Run starts it.
func New(opts Options) (*Loop, error) {
	if opts.Environment == "" || opts.Load.Source == nil || opts.Engine == nil || opts.Engine.Client() == nil {
		return nil, fmt.Errorf("loop: environment, source and an engine with a cluster are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Metrics == nil {
		opts.Metrics = metrics.New(opts.Environment)
	}
	if opts.Resync <= 0 {
		opts.Resync = DefaultResync
	}
	if opts.Drift == "" {
		opts.Drift = drift.Correct
	}
	l := &Loop{
		opts:     opts,
		env:      opts.Environment,
		client:   opts.Engine.Client(),
		owner:    apply.DefaultFieldManager,
		log:      opts.Logger.With("environment", opts.Environment),
		m:        opts.Metrics,
		records:  &syncstate.Store{Client: opts.Engine.Client().Clientset},
		queue:    newQueue(),
		sourceCh: make(chan struct{}, 1),
		filesCh:  make(chan struct{}, 1),
		apisCh:   make(chan struct{}, 1),
		expected: map[object.Key]drift.Expected{},
		verified: map[object.Key]string{},
		reported: map[object.Key]string{},
		backoff:  drift.NewBackoff(),
		statusCh: make(chan struct{}, 1),
	}
	l.disc.changed = func() {
		opts.Engine.RefreshCapabilities()
		signal(l.apisCh)
	}
	if opts.Drift != drift.Off {
		mc, err := metadata.NewForConfig(opts.Engine.Client().Config)
		if err != nil {
			return nil, fmt.Errorf("loop: metadata client: %w", err)
		}
		l.watcher = drift.NewWatcher(mc, ownership.Environment(l.env), l.onWatchEvent, l.log)
	}
	return l, nil
}

// Trigger tells the loop that the source may have moved (a webhook): it
// asks the source for its revision at once. Bursts coalesce.
func (l *Loop) Trigger() { signal(l.sourceCh) }

// FilesChanged tells the loop that files of a local source changed: it
// renders again even though a local directory's revision does not move.
func (l *Loop) FilesChanged() { signal(l.filesCh) }

// Ready says whether the first reconcile has finished and the watches
// have listed what they watch.
func (l *Loop) Ready() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ready && (l.watcher == nil || l.watcher.Synced())
}

// Converged says whether the loop's last attempt applied the source's
// revision, and in words how it stands: converged at a revision, retrying
// a failure that may pass (its kind, how many attempts, when the next), or
// blocked on a revision that does not render. A suspended loop counts as
// converged: it was asked to stand still.
func (l *Loop) Converged() (bool, string) {
	l.mu.Lock()
	st := l.status
	l.mu.Unlock()
	switch {
	case st.Suspended:
		return true, "suspended at " + orNone(st.LastAppliedRevision)
	case st.State == syncstate.StateRetrying:
		return false, fmt.Sprintf("failing: %s error at %s (%d failed attempts), next attempt in %s",
			orNone(st.LastErrorKind), orNone(st.LastAttemptedRevision), st.Failures, time.Until(st.NextAttemptAt).Round(time.Second))
	case st.State == syncstate.StateBlocked:
		return false, fmt.Sprintf("failing: revision %s does not render (bad input); waiting for a new revision or envctl reconcile", orNone(st.LastAttemptedRevision))
	case st.State == syncstate.StateConverged:
		return true, "converged at " + orNone(st.LastAppliedRevision)
	}
	return false, "no reconcile has finished"
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// Status returns a copy of the loop's status.
func (l *Loop) Status() syncstate.Status {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.status
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Run reconciles until ctx ends, then stops within the shutdown grace:
// the object in flight finishes or is cancelled, the inventory and the
// status are saved. It returns nil after a stop by ctx, and an error when
// the loop cannot run at all or must not go on (the environment was
// applied from another repository).
func (l *Loop) Run(ctx context.Context) error {
	l.mu.Lock()
	l.status = syncstate.Status{
		Environment: l.env, Holder: l.opts.Holder, Mode: l.opts.Mode, Source: l.opts.source().String(),
		Since: time.Now().UTC(), Running: true, DriftMode: string(l.opts.Drift),
	}
	l.mu.Unlock()

	// Work that must stop when ctx ends, and work (status writes, drift
	// workers) that outlives it by the shutdown grace.
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBG()
	l.bg = bg
	var wg sync.WaitGroup

	requests, err := l.watchRecord(bg)
	if err != nil {
		return err
	}
	wg.Go(func() { l.writeStatuses(bg) })
	inflight, stopInflight := context.WithCancel(context.WithoutCancel(ctx))
	defer stopInflight()
	if l.watcher != nil {
		for range workers {
			wg.Go(func() { l.work(ctx, inflight) })
		}
	}

	r := &runState{}
	first := <-requests // the record as it was at the start
	l.applyRequests(ctx, r, first, true)
	if !l.suspended() {
		l.reconcileSource(ctx, r, true, first.Reconcile)
	}
	if r.fatal == nil {
		l.setReady(ctx)
	}

	poll := newTimer(l.nextPoll())
	resync := time.NewTicker(l.opts.Resync)
	defer resync.Stop()
	for ctx.Err() == nil && r.fatal == nil {
		select {
		case <-ctx.Done():
		case req := <-requests:
			l.applyRequests(ctx, r, req, false)
		case <-l.sourceCh:
			if !l.suspended() {
				l.reconcileSource(ctx, r, false, "")
			}
		case <-l.filesCh:
			if !l.suspended() {
				l.reconcileSource(ctx, r, true, "")
			}
		case <-l.apisCh:
			if !l.suspended() {
				l.log.Info("the cluster's served APIs changed; rendering again")
				l.reconcileSource(ctx, r, true, "")
			}
		case <-poll.C():
			if !l.suspended() {
				l.reconcileSource(ctx, r, false, "")
			}
			poll.reset(l.nextPoll())
		case <-r.retry.C():
			if !l.suspended() {
				l.retry(ctx, r)
			}
		case <-resync.C:
			if !l.suspended() {
				l.verifyAll()
			}
		}
	}
	l.shutdown(ctx, stopInflight, stopBG, &wg)
	return r.fatal
}

// nextPoll is the interval with ±10% jitter; zero when not polling.
func (l *Loop) nextPoll() time.Duration {
	if l.opts.Interval <= 0 {
		return 0
	}
	f := 1 + Jitter*(2*rand.Float64()-1)
	return time.Duration(float64(l.opts.Interval) * f)
}

// setReady marks the loop ready once the watches have synced.
func (l *Loop) setReady(ctx context.Context) {
	if l.watcher != nil {
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		err := l.watcher.WaitSynced(wctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			l.log.Warn("watches did not sync within a minute; drift is corrected once they do", "err", err)
		}
		l.verifyAll()
	}
	l.mu.Lock()
	l.ready = true
	l.mu.Unlock()
}

// shutdown stops the drift workers (the object in flight gets the grace),
// saves the inventory, records that the loop stopped and ends the watches.
// Its writes are made with Run's context (uncancelled): a loop that stops
// because it lost its lock writes nothing more.
func (l *Loop) shutdown(runCtx context.Context, stopInflight, stopBG context.CancelFunc, wg *sync.WaitGroup) {
	start := time.Now()
	l.log.Info("stopping")
	l.queue.close()
	done := make(chan struct{})
	go func() {
		l.writeMu.Lock() // waits for the corrections in flight
		l.writeMu.Unlock()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(ShutdownGrace):
		l.log.Warn("a drift correction did not finish within the shutdown grace; cancelled")
	}
	stopInflight()
	stopBG()
	if l.watcher != nil {
		l.watcher.Stop()
	}
	wg.Wait()

	ctx, cancel := context.WithTimeout(context.WithoutCancel(runCtx), ShutdownGrace)
	defer cancel()
	if err := kube.FenceErr(ctx); err != nil {
		l.log.Warn("stopping without saving the inventory or the status: the lock is no longer held", "err", err)
		l.log.Info("stopped", "took", time.Since(start).Round(time.Millisecond))
		return
	}
	if err := l.saveInventory(ctx); err != nil {
		l.log.Error("could not save the inventory", "err", err)
	}
	l.mu.Lock()
	l.status.Running = false
	l.status.StoppedAt = time.Now().UTC()
	st := l.status
	l.mu.Unlock()
	if err := l.records.WriteStatus(ctx, &st); err != nil {
		l.log.Warn("could not record that the loop stopped", "err", err)
	}
	l.log.Info("stopped", "took", time.Since(start).Round(time.Millisecond))
}

// saveInventory writes the inventory when drift corrections changed what
// it records, so that the next run's unchanged check agrees with the
// cluster.
func (l *Loop) saveInventory(ctx context.Context) error {
	l.mu.Lock()
	if !l.invDirty || l.inv == nil {
		l.mu.Unlock()
		return nil
	}
	src := l.inv
	inv := *l.inv
	inv.Entries = append([]inventory.Entry(nil), l.inv.Entries...)
	l.invDirty = false
	l.mu.Unlock()
	// A compare-and-swap against the version the loop's last run read or
	// wrote (Inventory.Version).
	_, err := inventory.NewStore(l.client.Clientset).Save(ctx, &inv)
	l.mu.Lock()
	switch {
	case err != nil:
		l.invDirty = true
	case l.inv == src:
		l.inv.Version = inv.Version
	}
	l.mu.Unlock()
	return err
}

func (l *Loop) suspended() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.suspend
}

// errInterrupted marks work cut short by the loop's stop.
var errInterrupted = errors.New("interrupted by shutdown")
