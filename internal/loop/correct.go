package loop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/envctl/envctl/internal/apply"
	"github.com/envctl/envctl/internal/drift"
	"github.com/envctl/envctl/internal/kube"
	"github.com/envctl/envctl/internal/notify"
	"github.com/envctl/envctl/internal/object"
)

// failedCorrectionRetry spaces out the attempts at a correction that
// failed (a namespace being recreated, a webhook refusing); the object's
// drift backoff still applies on top.
const failedCorrectionRetry = 2 * time.Second

// onWatchEvent queues a declared object whose watch reported a change.
func (l *Loop) onWatchEvent(ev drift.Event) {
	l.mu.Lock()
	declared := l.cur != nil && l.cur.objects[ev.Key] != nil
	l.mu.Unlock()
	if declared {
		l.queue.add(ev.Key, ev.At)
	}
}

// verifyAll checks every declared object against its watch cache and
// queues those that drifted: the resync, served from the caches, with no
// request to the API server.
func (l *Loop) verifyAll() int {
	if l.watcher == nil {
		return 0
	}
	now := time.Now()
	l.mu.Lock()
	var drifted []object.Key
	if l.cur != nil {
		for key, o := range l.cur.objects {
			exp, ok := l.expected[key]
			if !ok || o.ignore {
				continue
			}
			live, watched := l.watcher.Get(key)
			if !watched {
				continue
			}
			if live != nil && l.verified[key] == live.ResourceVersion {
				continue
			}
			v := drift.Check(live, exp, l.owner)
			switch {
			case v.Drifted:
				drifted = append(drifted, key)
			case !v.Stale && live != nil:
				l.verified[key] = live.ResourceVersion
			}
		}
	}
	l.mu.Unlock()
	for _, key := range drifted {
		l.queue.add(key, now)
	}
	return len(drifted)
}

// work corrects queued objects until the queue closes or ctx ends; the
// correction in flight runs on with inflight, which outlives ctx by the
// shutdown grace.
func (l *Loop) work(ctx, inflight context.Context) {
	for {
		key, it, ok := l.queue.next(ctx)
		if !ok {
			return
		}
		l.correct(inflight, key, it)
		l.queue.done(key)
	}
}

// correct handles one queued object: check it against how envctl left it
// and, when it drifted, report it and (in correct mode, once its backoff
// allows) apply it from the render.
func (l *Loop) correct(ctx context.Context, key object.Key, it item) {
	l.writeMu.RLock()
	defer l.writeMu.RUnlock()
	if ctx.Err() != nil {
		return
	}
	l.mu.Lock()
	var o *declaredObject
	if l.cur != nil {
		o = l.cur.objects[key]
	}
	exp, hasExp := l.expected[key]
	suspended := l.suspend
	l.mu.Unlock()
	if o == nil || !hasExp || o.ignore || suspended {
		return
	}
	live, watched := l.watcher.Get(key)
	if !watched {
		return
	}
	v := drift.Check(live, exp, l.owner)
	if v.Stale || v.Ignored || !v.Drifted {
		if !v.Stale && live != nil {
			l.mu.Lock()
			l.verified[key] = live.ResourceVersion
			l.mu.Unlock()
		}
		return
	}
	if v.Reason == drift.Deleted && live == nil {
		// Gone from the environment's watch: deleted, unlabelled, or
		// relabelled for another environment, which is a conflict to
		// report, not a drift to undo.
		if err := l.writer.CheckOwner(ctx, o.prep, l.env); err != nil {
			var other *apply.OwnershipError
			if errors.As(err, &other) {
				l.ownedElsewhere(key, other)
				return
			}
			if ctx.Err() == nil {
				l.log.Warn("could not check whose the object is; retrying", "object", key.String(), "err", err)
				l.queue.later(key, it.first, time.Now().Add(failedCorrectionRetry))
			}
			return
		}
	}
	state := "deleted"
	if live != nil {
		state = live.ResourceVersion
	}
	l.mu.Lock()
	first := l.reported[key] != state
	l.reported[key] = state
	l.mu.Unlock()
	what := describe(key, v)
	if first {
		l.m.DriftFound(o.component, key.Kind)
		now := time.Now().UTC()
		l.updateStatus(func(st *statusT) {
			st.DriftDetected++
			st.LastDrift, st.LastDriftAt = what, now
		})
		if l.opts.Drift == drift.Detect {
			l.log.Warn("drift detected (not corrected: --drift detect)", "object", key.String(), "reason", string(v.Reason), "by", v.By)
		}
	}
	if l.opts.Drift != drift.Correct {
		return
	}

	now := time.Now()
	l.mu.Lock()
	alone := l.backoff.LeftAlone(key.String())
	delay, fight := l.backoff.Delay(key.String(), now)
	l.mu.Unlock()
	if alone {
		return // given up on: said when it was (leftAlone)
	}
	if wait := it.first.Add(delay); now.Before(wait) {
		l.queue.later(key, it.first, wait)
		return
	}
	if fight {
		l.m.Fight(o.component, key.Kind)
		l.updateStatus(func(st *statusT) { st.Fights++ })
		l.log.Warn("fighting another writer over an object; its corrections now back off", "object", key.String(), "with", v.By, "next-delay", 2*delay)
		l.notifyDrift(notify.Fight, notify.ReasonFight, o, fmt.Sprintf("%s: another writer (%s) keeps undoing its corrections; they now back off (next in %s)",
			describe(key, v), orNone(v.By), 2*delay))
	}

	out, err := l.reapply(ctx, o, live, v)
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, errChanged) {
			l.queue.add(key, it.first) // changed under us: judge it again
			return
		}
		l.log.Warn("could not correct drift; retrying", "object", key.String(), "err", err)
		l.queue.later(key, it.first, time.Now().Add(failedCorrectionRetry))
		return
	}
	answered := time.Now()
	fields := kube.FieldsHash(out, l.owner)
	l.mu.Lock()
	last := l.backoff.Corrected(key.String(), answered, delay)
	l.expected[key] = drift.Expected{Digest: o.prep.Digest, Fields: fields, ResourceVersion: out.GetResourceVersion()}
	l.verified[key] = out.GetResourceVersion()
	delete(l.reported, key)
	if l.inv != nil {
		for i := range l.inv.Entries {
			e := &l.inv.Entries[i]
			if e.Key() == key && (e.Fields != fields || e.Digest != o.prep.Digest) {
				e.Fields, e.Digest = fields, o.prep.Digest
				l.invDirty = true
			}
		}
	}
	l.mu.Unlock()
	l.m.DriftPutBack(o.component, key.Kind)
	l.m.DriftLatency.Observe(answered.Sub(it.first).Seconds())
	l.updateStatus(func(st *statusT) { st.DriftCorrected++ })
	l.log.Info("drift corrected", "object", key.String(), "reason", string(v.Reason), "by", v.By, "latency", answered.Sub(it.first).Round(time.Millisecond))
	l.notifyDrift(notify.DriftCorrected, notify.ReasonDriftCorrected, o, describe(key, v)+"; put back")
	if last {
		l.leftAlone(o, v.By)
	}
}

// leftAlone reports an object whose fight the loop gives up: it was
// corrected drift.GiveUpAfter times in a row (backing off each time), and
// is not corrected again until a new revision is applied or a reconcile is
// requested.
func (l *Loop) leftAlone(o *declaredObject, by string) {
	key := o.key
	with := "another writer"
	if by != "" {
		with = by
	}
	what := fmt.Sprintf("%s: fought with %s; left alone after %d corrections in a row, until a new revision or envctl reconcile", key, with, l.backoff.GiveUpAfter)
	l.updateStatus(func(st *statusT) {
		st.LeftAlone = append(st.LeftAlone, what)
	})
	l.notifyDrift(notify.Fight, notify.ReasonFightGivenUp, o, what)
	l.log.Warn("giving up a fight: the object is no longer corrected until a new revision or envctl reconcile",
		"object", key.String(), "with", with, "corrections", l.backoff.GiveUpAfter)
}

// releaseFights lets the objects left alone be corrected again.
func (l *Loop) releaseFights(why string) {
	l.mu.Lock()
	released := l.backoff.Release()
	l.mu.Unlock()
	if len(released) == 0 {
		return
	}
	l.log.Info("correcting again the objects whose fight was given up", "why", why, "objects", len(released))
	l.updateStatus(func(st *statusT) { st.LeftAlone = nil })
}

// ownedElsewhere reports, once per owner, a declared object that is now
// labelled for another environment: it is not corrected (that would take
// it from the other environment, which the apply refuses without --adopt);
// a full reconcile reports it as a conflict too.
func (l *Loop) ownedElsewhere(key object.Key, err *apply.OwnershipError) {
	state := "owned by " + err.Owner
	l.mu.Lock()
	first := l.reported[key] != state
	l.reported[key] = state
	l.mu.Unlock()
	if !first {
		return
	}
	what := fmt.Sprintf("%s is labelled for environment %q: a conflict, not corrected", key, err.Owner)
	now := time.Now().UTC()
	l.updateStatus(func(st *statusT) {
		st.DriftConflicts++
		st.LastDrift, st.LastDriftAt = what, now
	})
	l.log.Warn("not correcting drift: the object is labelled for another environment", "object", key.String(), "owner", err.Owner)
}

func describe(key object.Key, v drift.Verdict) string {
	s := key.String() + " " + string(v.Reason)
	if v.By != "" {
		s += " by " + v.By
	}
	return s
}

// errChanged is a take-over refused because the object changed since the
// watch saw it.
var errChanged = errors.New("object changed while being corrected")

// reapply puts o back: when kubectl-like managers edited it, their fields
// are first moved to envctl's manager (so the apply also removes what they
// added), then o is applied with force, as its declared state is the truth.
func (l *Loop) reapply(ctx context.Context, o *declaredObject, live *metav1.PartialObjectMetadata, v drift.Verdict) (*unstructured.Unstructured, error) {
	if v.Reason == drift.Edited && live != nil {
		entries, changed, err := drift.TakeOver(live.ManagedFields, l.owner, o.prep.Desired.GetAPIVersion())
		if err != nil {
			return nil, fmt.Errorf("take over the fields of %s: %w", o.key, err)
		}
		if changed {
			if err := l.patchManagedFields(ctx, o, live.ResourceVersion, entries); err != nil {
				return nil, err
			}
		}
	}
	out, _, err := l.writer.Write(ctx, o.prep, apply.WriteOptions{Force: true})
	return out, err
}

// patchManagedFields replaces the object's managed fields, provided it is
// still at version rv: a merge patch that carries the resource version is
// refused with a conflict when the object changed since.
func (l *Loop) patchManagedFields(ctx context.Context, o *declaredObject, rv string, entries []metav1.ManagedFieldsEntry) error {
	body, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": rv, "managedFields": entries},
	})
	if err != nil {
		return err
	}
	res := l.client.Dynamic.Resource(o.prep.Mapping.Resource)
	opts := metav1.PatchOptions{FieldManager: l.owner}
	if o.prep.Mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		_, err = res.Namespace(o.key.Namespace).Patch(ctx, o.key.Name, types.MergePatchType, body, opts)
	} else {
		_, err = res.Patch(ctx, o.key.Name, types.MergePatchType, body, opts)
	}
	switch {
	case err == nil:
		return nil
	case apierrors.IsNotFound(err), apierrors.IsConflict(err):
		return errChanged
	}
	return fmt.Errorf("take over the fields of %s: %w", o.key, err)
}
