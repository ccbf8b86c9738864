package loop

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/envctl/envctl/internal/apply"
	"github.com/envctl/envctl/internal/drift"
	"github.com/envctl/envctl/internal/engine"
	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/kube"
	"github.com/envctl/envctl/internal/metrics"
	"github.com/envctl/envctl/internal/notify"
	"github.com/envctl/envctl/internal/object"
	"github.com/envctl/envctl/internal/render"
	"github.com/envctl/envctl/internal/source"
	"github.com/envctl/envctl/internal/syncstate"
)

// desired is one render of the environment, kept for drift corrections.
type desired struct {
	revision  string
	declared  *engine.Declared
	rendering *engine.Rendering
	// fingerprint hashes every object's identity and digest: two renders
	// with one fingerprint declare the same state.
	fingerprint string
	// objects are filled once the engine ran (kinds a CRD of the render
	// defines have a mapping only then).
	objects map[object.Key]*declaredObject
}

// declaredObject is one declared object, ready to apply alone.
type declaredObject struct {
	key       object.Key
	component string
	// prep is the object as the writer writes it.
	prep *apply.Prepared
	// ignore: declared with envctl.dev/drift: ignore.
	ignore bool
}

// runState is what the main loop remembers between triggers.
type runState struct {
	retry timer
	// failures counts the failed attempts in a row at failingRev; a new
	// revision starts the backoff afresh.
	failures   int
	failingRev string
	// pending is the render whose engine run failed, retried as is.
	pending *desired
	// retryRender: the render of failingRev failed with an error that may
	// pass (a registry, network or cluster failure); the retry renders it
	// again.
	retryRender bool
	// failedRender is the revision whose render failed with bad input,
	// not rendered again until the source moves or a reconcile is
	// requested.
	failedRender string
	lastFailed   bool
	// fetchFailed: the last fetch failed; the next that succeeds clears
	// the error.
	fetchFailed bool
	// renderErr is the error of failedRender.
	renderErr error
	// token and fetch are the last requests acted on.
	token, fetch string
	// fatal ends the loop: the environment belongs to another repository.
	fatal error
}

// reconcileSource asks the source for its revision and reconciles when it
// moved. rerender renders even an unchanged revision (local files changed,
// or a requested reconcile); token, when set, is a requested reconcile to
// answer, which also runs the engine on an unchanged render.
func (l *Loop) reconcileSource(ctx context.Context, r *runState, rerender bool, token string) {
	start := time.Now()
	snap, err := l.snapshot(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		ferr := fmt.Errorf("fetch %s: %w", l.opts.source(), err)
		l.failed(r, metrics.ResultFetchError, "", ferr)
		if !r.fetchFailed {
			l.emit(notify.Event{Kind: notify.Failed, Reason: notify.ReasonFetchFailed, Message: ferr.Error()})
		}
		r.fetchFailed = true
		// A failed run waiting for its retry keeps it: the retry applies
		// the render in memory and needs no fetch.
		l.scheduleRetry(r, r.pending, r.failingRev)
		l.answer(token, "", err)
		return
	}
	rev := snap.Revision
	cur := l.current()
	if r.fetchFailed {
		l.fetchRecovered(r, rev, cur)
	}
	if token == "" && !rerender {
		switch {
		case rev == r.failedRender:
			return // not again until the source moves
		case r.retryRender && rev == r.failingRev:
			return // rendered again by its retry timer
		case cur != nil && rev == cur.revision:
			return // unchanged; a failed run is retried by its timer
		}
	}
	d, err := l.render(ctx, snap)
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		l.renderFailed(r, rev, err)
		l.answer(token, rev, err)
		return
	}
	r.failedRender, r.renderErr, r.retryRender = "", nil, false
	if token == "" && cur != nil && !r.lastFailed && d.fingerprint == cur.fingerprint && d.revision == cur.revision {
		l.log.Debug("render unchanged; nothing to apply", "revision", rev)
		return
	}
	l.m.ObservePhase(metrics.PhaseRender, time.Since(start).Seconds())
	err = l.runEngine(ctx, r, d, start)
	if !errors.Is(err, errInterrupted) {
		l.answer(token, rev, err)
	}
}

// renderFailed handles a render of rev that failed. Bad input (the commit
// does not render) pins the revision: it is not rendered again until the
// source moves or a reconcile is requested. Anything else (a chart
// registry or the network failing, the cluster's API) is retried with
// backoff, without a new commit. Either way the last good render stays
// applied, its drift corrected, and nothing is pruned.
func (l *Loop) renderFailed(r *runState, rev string, err error) {
	l.failed(r, metrics.ResultRenderError, rev, err)
	l.emit(notify.Event{Kind: notify.Failed, Revision: rev, Reason: notify.ReasonRenderFailed, Message: err.Error()})
	if errs.Retryable(err) {
		r.failedRender, r.renderErr, r.retryRender = "", nil, true
		l.log.Error("render failed; keeping the last good revision, nothing pruned; retrying with backoff", "revision", rev, "err", err)
		l.scheduleRetry(r, nil, rev)
		return
	}
	r.failedRender, r.renderErr, r.retryRender = rev, err, false
	r.retry.stop()
	r.pending, r.failures, r.failingRev = nil, 0, rev
	l.log.Error("render failed (bad input); keeping the last good revision, nothing pruned; not retried until the source moves", "revision", rev, "err", err)
	l.updateStatus(func(st *statusT) {
		st.State, st.Failures, st.NextAttemptAt = syncstate.StateBlocked, 1, time.Time{}
	})
}

// fetchRecovered clears the error of failed fetches once the source
// answers again, unless another failure (a run waiting for its retry, a
// revision that did not render) is still outstanding.
func (l *Loop) fetchRecovered(r *runState, rev string, cur *desired) {
	r.fetchFailed = false
	if rev == r.failedRender && r.renderErr != nil {
		// Still the revision that does not render: that is the error to
		// show again, not the fetch's.
		l.updateStatus(func(st *statusT) {
			st.LastError, st.LastErrorKind = r.renderErr.Error(), errs.KindOf(r.renderErr).String()
		})
		return
	}
	if r.pending != nil || r.retryRender || r.failedRender != "" || cur == nil || rev != cur.revision {
		return // what follows (a run, a retry) settles the status
	}
	r.lastFailed, r.failures, r.failingRev = false, 0, ""
	r.retry.stop()
	l.log.Info("the source answers again; the applied revision is current", "revision", rev)
	l.updateStatus(func(st *statusT) {
		st.LastAttemptedRevision, st.LastAttemptAt = rev, time.Now().UTC()
		st.LastError, st.LastErrorKind = "", ""
		st.State, st.Failures, st.NextAttemptAt = syncstate.StateConverged, 0, time.Time{}
	})
}

// retry runs again what failed: the engine on the same render, the render
// of the same revision, or the fetch.
func (l *Loop) retry(ctx context.Context, r *runState) {
	switch {
	case r.pending != nil:
		l.log.Info("retrying the failed reconcile", "revision", r.pending.revision)
		_ = l.runEngine(ctx, r, r.pending, time.Now())
	case r.retryRender:
		l.log.Info("retrying the failed render", "revision", r.failingRev)
		l.reconcileSource(ctx, r, true, "")
	default:
		l.reconcileSource(ctx, r, false, "")
	}
}

// snapshot asks the source for its state, timed and counted.
func (l *Loop) snapshot(ctx context.Context) (*source.Snapshot, error) {
	start := time.Now()
	snap, err := l.opts.source().Snapshot(ctx)
	l.m.FetchDuration.Observe(time.Since(start).Seconds())
	l.m.ObservePhase(metrics.PhaseFetch, time.Since(start).Seconds())
	if err != nil {
		l.m.Fetched("error")
		return nil, err
	}
	l.m.Fetched("success")
	return snap, nil
}

// render loads the configuration of snap and renders the environment
// through the engine, as every command does.
func (l *Loop) render(ctx context.Context, snap *source.Snapshot) (*desired, error) {
	d, err := engine.LoadSnapshot(snap, l.opts.Load)
	if err != nil {
		return nil, err
	}
	// The loop holds the environment's lock, so the inventory its last run
	// left is the stored one: no read to learn which releases are installed.
	var applied *inventory.Inventory
	l.mu.Lock()
	if l.inv != nil {
		c := *l.inv
		c.Entries = slices.Clone(l.inv.Entries)
		applied = &c
	}
	l.mu.Unlock()
	r, err := l.opts.Engine.Render(ctx, engine.Request{Declared: d, Policy: l.opts.policy(), Applied: applied})
	if err != nil {
		return nil, fmt.Errorf("render environment %s at %s: %w", l.env, snap.Revision, err)
	}
	return newDesired(d, r)
}

// newDesired is the state to keep of rendering r of d.
func newDesired(d *engine.Declared, r *engine.Rendering) (*desired, error) {
	fp, err := fingerprint(r.Result)
	if err != nil {
		return nil, errs.Input(err)
	}
	return &desired{revision: d.Revision(), declared: d, rendering: r, fingerprint: fp}, nil
}

// fingerprint hashes the identity and digest of every object rendered.
func fingerprint(res *render.Result) (string, error) {
	h := sha256.New()
	for _, c := range res.Components {
		fmt.Fprintf(h, "component %s\n", c.Name)
		for _, o := range c.Objects {
			dg, err := kube.Digest(o)
			if err != nil {
				return "", err
			}
			fmt.Fprintf(h, "%s %s\n", object.RefOf(o), dg)
		}
		for _, hk := range c.Hooks {
			dg, err := kube.Digest(hk.Object)
			if err != nil {
				return "", err
			}
			fmt.Fprintf(h, "hook %s %s\n", object.RefOf(hk.Object), dg)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// runEngine runs one full reconcile of d, with drift corrections held off,
// and takes what it applied as the state to keep.
func (l *Loop) runEngine(ctx context.Context, r *runState, d *desired, start time.Time) error {
	if err := l.saveInventory(ctx); err != nil {
		l.log.Warn("could not save the inventory before the reconcile", "err", err)
	}
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	l.log.Info("reconciling", "revision", d.revision)
	if d.revision != r.failingRev {
		// A retry of the same revision is still the same attempt.
		l.emit(notify.Event{Kind: notify.Progressing, Revision: d.revision, Reason: notify.ReasonProgressing, Message: "reconciling"})
	}
	ph := &phases{m: l.m}
	res, err := l.opts.Engine.Reconcile(ctx, engine.Request{
		Declared: d.declared,
		Policy:   l.opts.policy(),
		Rendered: d.rendering,
		OnEvent: func(e engine.Event) {
			ph.observe(e)
			if l.opts.OnEvent != nil {
				l.opts.OnEvent(e)
			}
		},
	})
	ph.report(start)
	if res != nil {
		l.adopt(ctx, d, res)
	}
	if err != nil && ctx.Err() != nil {
		return errInterrupted
	}
	var other *engine.RepositoryError
	if errors.As(err, &other) {
		// Not a failure to retry: every attempt would be refused alike.
		l.failed(r, metrics.ResultFailure, d.revision, err)
		l.notifyResult(d.revision, res, err, time.Since(start))
		l.log.Error("stopping: the environment was applied from another repository", "err", err)
		r.fatal = err
		return err
	}
	l.setObjectHealth(res)
	l.notifyResult(d.revision, res, err, time.Since(start))
	if err != nil {
		l.failed(r, metrics.ResultFailure, d.revision, err)
		l.log.Error("reconcile failed; nothing pruned, retrying with backoff", "revision", d.revision, "err", err)
		l.scheduleRetry(r, d, d.revision)
		return err
	}
	r.lastFailed, r.failures, r.failingRev, r.pending, r.retryRender = false, 0, "", nil, false
	r.retry.stop()
	l.m.Reconciled(metrics.ResultSuccess)
	l.m.SetAppliedRevision(d.revision)
	now := time.Now().UTC()
	l.updateStatus(func(st *statusT) {
		st.LastAppliedRevision, st.LastAppliedAt = d.revision, now
		st.LastAttemptedRevision, st.LastAttemptAt = d.revision, now
		st.LastError, st.LastErrorKind = "", ""
		st.State, st.Failures, st.NextAttemptAt = syncstate.StateConverged, 0, time.Time{}
	})
	l.log.Info("reconciled", "revision", d.revision, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// failed records a failed attempt.
func (l *Loop) failed(r *runState, result, rev string, err error) {
	r.lastFailed = true
	l.m.Reconciled(result)
	now := time.Now().UTC()
	l.updateStatus(func(st *statusT) {
		if rev != "" {
			st.LastAttemptedRevision = rev
		}
		st.LastAttemptAt = now
		st.LastError = err.Error()
		st.LastErrorKind = errs.KindOf(err).String()
	})
	if result == metrics.ResultFetchError {
		l.log.Error("fetch failed; keeping the last good revision", "err", err)
	}
}

// scheduleRetry arms the retry timer with backoff for a failed attempt at
// rev; pending is the render to apply again, nil to render or fetch again.
// The backoff starts afresh for a revision other than the last failure's.
func (l *Loop) scheduleRetry(r *runState, pending *desired, rev string) {
	if rev != r.failingRev {
		r.failures, r.failingRev = 0, rev
	}
	r.failures++
	r.pending = pending
	d := min(retryBase<<min(r.failures-1, 20), retryMax)
	r.retry.reset(d)
	next := time.Now().Add(d).UTC()
	failures := r.failures
	l.updateStatus(func(st *statusT) {
		st.State, st.Failures, st.NextAttemptAt = syncstate.StateRetrying, failures, next
	})
	l.log.Info("next attempt scheduled", "in", d, "attempt", failures+1)
}

// adopt takes what the engine applied as the state to keep converged:
// the render's objects as the writer writes them, how the engine left each
// (its expectation), the kinds to watch and the inventory. An object the
// run did not apply keeps its previous expectation when it is declared as
// before; otherwise it is not corrected until a run applies it.
func (l *Loop) adopt(ctx context.Context, d *desired, res *engine.Result) {
	changes := map[object.Key]apply.Change{}
	applied := 0
	for _, c := range res.Components {
		for _, ch := range c.Changes {
			changes[ch.Ref.Key()] = ch
			if ch.Action != apply.Failed {
				applied++
			}
		}
	}
	if applied == 0 && len(res.Components) == 0 {
		return // nothing ran: keep the last good state entirely
	}
	if res.Rendered != nil && res.Rendered != d.rendering {
		// The engine rendered again (the inventory moved since): keep what
		// it applied.
		if nd, err := newDesired(d.declared, res.Rendered); err == nil {
			*d = *nd
		}
	}
	w, err := l.opts.Engine.Writer(ctx, d.declared)
	if err != nil {
		l.log.Warn("drift corrections wait for the next reconcile: no writer", "err", err)
		return
	}
	objects := map[object.Key]*declaredObject{}
	var kinds []drift.Kind
	seen := map[string]bool{}
	for _, c := range d.rendering.Result.Components {
		for _, o := range c.Objects {
			mapping, err := l.client.Mapper.Mapping(ctx, o.GroupVersionKind())
			if err != nil {
				continue // a kind not served: the engine reported it
			}
			p, err := w.Prepare(o, mapping)
			if err != nil {
				continue
			}
			key := p.Ref.Key()
			objects[key] = &declaredObject{
				key: key, component: c.Name, prep: p,
				ignore: o.GetAnnotations()[drift.IgnoreAnnotation] == "ignore",
			}
			gk := mapping.GroupVersionKind.GroupKind()
			if !seen[gk.String()] {
				seen[gk.String()] = true
				kinds = append(kinds, drift.Kind{Resource: mapping.Resource, GroupKind: gk})
			}
		}
	}
	d.objects = objects

	if prev := l.current(); prev == nil || prev.revision != d.revision {
		l.releaseFights("a new revision")
	}
	l.mu.Lock()
	prev := l.cur
	expected := map[object.Key]drift.Expected{}
	for key, o := range objects {
		ch, ok := changes[key]
		switch {
		case ok && ch.Action != apply.Failed && ch.Object != nil:
			expected[key] = drift.Expected{Digest: ch.Digest, Fields: ch.Fields, ResourceVersion: ch.Object.GetResourceVersion()}
		case prev != nil && prev.objects[key] != nil && prev.objects[key].prep.Digest == o.prep.Digest:
			if e, ok := l.expected[key]; ok {
				expected[key] = e
			}
		}
	}
	for key := range l.expected {
		if objects[key] == nil {
			l.backoff.Forget(key.String())
		}
	}
	l.cur = d
	l.expected = expected
	l.verified = map[object.Key]string{}
	l.writer, l.owner = w, w.Owner()
	if res.Inventory != nil {
		l.inv, l.invDirty = res.Inventory, false
	}
	l.mu.Unlock()
	if l.bg != nil && hasRelease(d.declared) {
		l.disc.start(l.bg, l)
	}
	if l.watcher != nil {
		slices.SortFunc(kinds, func(a, b drift.Kind) int { return cmp.Compare(a.GroupKind.String(), b.GroupKind.String()) })
		l.watcher.Watch(kinds)
	}
}

// hasRelease says whether the environment renders a Helm chart, whose
// templates may ask what the cluster serves.
func hasRelease(d *engine.Declared) bool {
	for _, c := range d.Env.Spec.Components {
		if c.Helm != nil {
			return true
		}
	}
	return false
}

func (l *Loop) current() *desired {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cur
}

// setObjectHealth counts the declared objects by health after a run.
func (l *Loop) setObjectHealth(res *engine.Result) {
	if res == nil {
		return
	}
	counts := map[string]int{}
	for _, c := range res.Components {
		notReady := map[object.Key]string{}
		for _, nr := range c.NotReady {
			notReady[nr.Ref.Key()] = string(nr.Status)
		}
		for _, ch := range c.Changes {
			switch {
			case ch.Action == apply.Failed:
				counts["ApplyFailed"]++
			case notReady[ch.Ref.Key()] != "":
				counts[notReady[ch.Ref.Key()]]++
			case c.State == engine.Healthy:
				counts["Current"]++
			default:
				counts["Unknown"]++
			}
		}
	}
	l.m.SetObjects(counts)
}

// phases times the engine's phases, and each component, from its events.
// Events come one at a time (the engine serialises them).
type phases struct {
	m              *metrics.Metrics
	began, applied time.Time
	started        map[string]time.Time
}

func (p *phases) observe(e engine.Event) {
	switch e.Type {
	case engine.RenderDone:
		p.began = e.Time
	case engine.ComponentStarted:
		if p.started == nil {
			p.started = map[string]time.Time{}
		}
		p.started[e.Component] = e.Time
	case engine.ComponentDone:
		p.applied = e.Time
		took := -1.0
		if s, ok := p.started[e.Component]; ok {
			took = e.Time.Sub(s).Seconds()
		}
		p.m.ObserveComponent(e.Component, string(e.State), took)
	}
}

func (p *phases) report(start time.Time) {
	end := time.Now()
	if !p.began.IsZero() && !p.applied.IsZero() {
		p.m.ObservePhase(metrics.PhaseApply, p.applied.Sub(p.began).Seconds())
		p.m.ObservePhase(metrics.PhasePrune, end.Sub(p.applied).Seconds())
	}
	p.m.ObserveReconcile(end.Sub(start).Seconds())
}

// timer is a time.Timer that can be off, whose channel is then nil.
type timer struct{ t *time.Timer }

func newTimer(d time.Duration) *timer {
	t := &timer{}
	t.reset(d)
	return t
}

// C is the timer's channel, nil when off.
func (t *timer) C() <-chan time.Time {
	if t.t == nil {
		return nil
	}
	return t.t.C
}

// reset arms the timer for d; zero turns it off.
func (t *timer) reset(d time.Duration) {
	t.stop()
	if d > 0 {
		t.t = time.NewTimer(d)
	}
}

func (t *timer) stop() {
	if t.t != nil {
		t.t.Stop()
		t.t = nil
	}
}
