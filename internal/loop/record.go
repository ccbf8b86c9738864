package loop

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/tools/cache"

	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/syncstate"
)

type statusT = syncstate.Status

// statusDelay coalesces the status changes of a burst into one write.
const statusDelay = 200 * time.Millisecond

// updateStatus changes the status and has it written soon.
func (l *Loop) updateStatus(change func(*statusT)) {
	l.mu.Lock()
	change(&l.status)
	l.mu.Unlock()
	signal(l.statusCh)
}

// writeStatuses writes the status whenever it changed, at most every
// statusDelay, until ctx ends. A status equal to the last written is not
// written again, so a loop with nothing to do makes no writes.
func (l *Loop) writeStatuses(ctx context.Context) {
	var last *statusT
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.statusCh:
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(statusDelay):
		}
		l.mu.Lock()
		st := l.status
		l.mu.Unlock()
		if last != nil && reflect.DeepEqual(*last, st) {
			continue
		}
		if err := l.records.WriteStatus(ctx, &st); err != nil {
			if ctx.Err() != nil {
				return
			}
			l.log.Warn("could not record the loop's status; retrying", "err", err)
			time.AfterFunc(2*time.Second, func() { signal(l.statusCh) })
			continue
		}
		last = &st
	}
}

// answer records the outcome of a requested reconcile.
func (l *Loop) answer(token, rev string, err error) {
	if token == "" {
		return
	}
	a := &syncstate.Answer{Token: token, Revision: rev, Succeeded: err == nil, At: time.Now().UTC()}
	if err != nil {
		a.Error = err.Error()
		a.ErrorKind = errs.KindOf(err).String()
	}
	l.updateStatus(func(st *statusT) { st.Reconcile = a })
}

// errSuspended answers a reconcile requested of a suspended loop.
var errSuspended = errs.Input(errors.New("the loop is suspended; resume it first (envctl resume)"))

// applyRequests acts on the requests recorded for the loop. The first
// call, at the start, only takes note of the tokens (the first reconcile
// answers a pending reconcile token) and of a suspension.
func (l *Loop) applyRequests(ctx context.Context, r *runState, req syncstate.Requests, initial bool) {
	l.mu.Lock()
	was := l.suspend
	l.suspend = req.Suspended
	l.mu.Unlock()
	if req.Suspended != was || initial {
		l.updateStatus(func(st *statusT) { st.Suspended = req.Suspended })
		if req.Suspended {
			l.m.Suspended.Set(1)
		} else {
			l.m.Suspended.Set(0)
		}
	}
	switch {
	case req.Suspended && !was:
		l.log.Info("suspended: no reconcile and no drift correction until resumed")
	case !req.Suspended && was && !initial:
		l.log.Info("resumed")
		// Render again: file events were dropped while suspended.
		l.reconcileSource(ctx, r, true, "")
		l.verifyAll()
	}
	if req.Fetch != r.fetch {
		r.fetch = req.Fetch
		if !initial {
			l.Trigger()
		}
	}
	if req.Reconcile != r.token {
		r.token = req.Reconcile
		switch {
		case initial:
		case req.Suspended:
			l.answer(req.Reconcile, "", errSuspended)
		default:
			l.log.Info("reconcile requested")
			l.releaseFights("a reconcile was requested")
			l.reconcileSource(ctx, r, true, req.Reconcile)
		}
	}
}

// mailbox holds the latest requests read from the record.
type mailbox struct {
	mu  sync.Mutex
	req syncstate.Requests
	ch  chan struct{}
}

func (m *mailbox) put(req syncstate.Requests) {
	m.mu.Lock()
	m.req = req
	m.mu.Unlock()
	signal(m.ch)
}

func (m *mailbox) take() syncstate.Requests {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.req
}

// watchRecord watches the loop's record and returns a channel that
// delivers its requests each time they may have changed, the first time
// once the watch has listed it.
func (l *Loop) watchRecord(ctx context.Context) (<-chan syncstate.Requests, error) {
	box := &mailbox{ch: make(chan struct{}, 1)}
	ns, err := l.records.Where(ctx, l.env)
	if err != nil {
		return nil, err
	}
	lw := cache.NewListWatchFromClient(l.client.Clientset.CoreV1().RESTClient(), "configmaps", ns,
		fields.OneTermEqualSelector("metadata.name", syncstate.ConfigMapName(l.env)))
	inf := cache.NewSharedIndexInformer(lw, &corev1.ConfigMap{}, 0, cache.Indexers{})
	deliver := func(obj any) {
		cm, _ := obj.(*corev1.ConfigMap)
		box.put(syncstate.RequestsOf(cm))
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    deliver,
		UpdateFunc: func(_, obj any) { deliver(obj) },
		DeleteFunc: func(any) { box.put(syncstate.Requests{}) },
	})
	go inf.RunWithContext(ctx)
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if !cache.WaitForCacheSync(sctx.Done(), inf.HasSynced) {
		return nil, errs.Cluster(errors.New("could not read the sync record " + ns + "/" + syncstate.ConfigMapName(l.env) + " within a minute"))
	}
	out := make(chan syncstate.Requests)
	first := box.take()
	go func() {
		select {
		case out <- first:
		case <-ctx.Done():
			return
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-box.ch:
				select {
				case out <- box.take():
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}
