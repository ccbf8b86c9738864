package health

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"

	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/object"
)

// Wait waits until every object in objs is ready in opts.Mode. The objects
// are the observed state the caller already holds (what the apply returned,
// or what it listed), so objects that are ready from the start cost no
// request; the others are re-read (one LIST per kind, see refresh)
// until they are ready, one of them fails, or the timeout passes. A failed
// object ends the wait at once with an errs.Unhealthy error; the timeout
// with an errs.Timeout error. Both are a *NotReadyError listing every object
// that is not ready and why.
func (c *Checker) Wait(ctx context.Context, objs []*unstructured.Unstructured, opts Options) (*Report, error) {
	def := DefaultOptions()
	if opts.Timeout <= 0 {
		opts.Timeout = def.Timeout
	}
	if opts.MaxInterval <= 0 {
		opts.MaxInterval = def.MaxInterval
	}
	start := time.Now()
	w := &waiter{c: c, opts: opts, objs: slices.Clone(objs)}
	w.observe()

	deadline := start.Add(opts.Timeout)
	interval := 200 * time.Millisecond
	var lastPending string
	for {
		pending := w.pending()
		report := &Report{Objects: slices.Clone(w.status), Elapsed: time.Since(start)}
		if len(pending) == 0 {
			return report, nil
		}
		if failed := w.failed(); len(failed) > 0 {
			return report, errs.Unhealthy(w.explain(ctx, report, "failed"))
		}
		if sig := signature(pending); opts.OnWaiting != nil && sig != lastPending {
			lastPending = sig
			opts.OnWaiting(pending)
		}
		if !time.Now().Before(deadline) {
			return report, errs.Timeout(w.explain(ctx, report, fmt.Sprintf("timed out after %s", opts.Timeout)))
		}
		sleep := min(interval, time.Until(deadline))
		t := time.NewTimer(sleep)
		select {
		case <-ctx.Done():
			t.Stop()
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return report, errs.Timeout(w.explain(context.WithoutCancel(ctx), report, "deadline exceeded"))
			}
			return report, ctx.Err()
		case <-t.C:
		}
		interval = min(interval*3/2, opts.MaxInterval)
		if err := w.refresh(ctx); err != nil {
			return report, err
		}
	}
}

// waiter is the state of one Wait.
type waiter struct {
	c      *Checker
	opts   Options
	objs   []*unstructured.Unstructured
	status []ObjectStatus
}

func (w *waiter) observe() {
	w.status = make([]ObjectStatus, len(w.objs))
	for i, o := range w.objs {
		if o == nil {
			w.status[i] = ObjectStatus{Status: kstatus.NotFoundStatus, Message: "not found"}
			continue
		}
		w.status[i] = compute(o, w.opts.Mode)
	}
}

func (w *waiter) pending() []ObjectStatus {
	var out []ObjectStatus
	for _, s := range w.status {
		if s.Status != kstatus.CurrentStatus {
			out = append(out, s)
		}
	}
	return out
}

func (w *waiter) failed() []ObjectStatus {
	var out []ObjectStatus
	for _, s := range w.status {
		if s.Status == kstatus.FailedStatus {
			out = append(out, s)
		}
	}
	return out
}

// refresh re-reads the objects that are not ready: with one LIST per kind
// (kube.Client.ListLive) for kinds with several of them waiting when there
// is a selector, and by GET for the rest and for any object the LIST did not
// return (its labels may differ).
func (w *waiter) refresh(ctx context.Context) error {
	var pending []int
	perKind := map[schema.GroupVersionKind]int{}
	for i, s := range w.status {
		if s.Status != kstatus.CurrentStatus {
			pending = append(pending, i)
			perKind[s.Ref.GroupVersionKind()]++
		}
	}
	var listed []object.Ref
	for _, i := range pending {
		if ref := w.status[i].Ref; perKind[ref.GroupVersionKind()] > 1 {
			listed = append(listed, ref)
		}
	}
	found, err := w.c.client.ListLive(ctx, listed, w.opts.Selector)
	if err != nil {
		return err
	}
	// GET what the LIST did not return, one kind per goroutine.
	toGet := map[schema.GroupVersionKind][]object.Ref{}
	for _, i := range pending {
		if ref := w.status[i].Ref; found[ref.Key()] == nil {
			toGet[ref.GroupVersionKind()] = append(toGet[ref.GroupVersionKind()], ref)
		}
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for gvk, refs := range toGet {
		wg.Go(func() {
			got, err := w.get(ctx, gvk, refs)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			maps.Copy(found, got)
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	for _, i := range pending {
		obj := found[w.status[i].Ref.Key()]
		if obj == nil {
			w.status[i] = ObjectStatus{Ref: w.status[i].Ref, Status: kstatus.NotFoundStatus, Message: "not found"}
			continue
		}
		w.objs[i] = obj
		w.status[i] = compute(obj, w.opts.Mode)
	}
	return nil
}

// get reads refs, all of kind gvk, one GET each; objects that do not exist,
// or whose kind the cluster does not serve yet, are left out.
func (w *waiter) get(ctx context.Context, gvk schema.GroupVersionKind, refs []object.Ref) (map[object.Key]*unstructured.Unstructured, error) {
	mapping, err := w.c.client.Mapper.Mapping(ctx, gvk)
	if meta.IsNoMatchError(err) {
		return nil, nil
	}
	if err != nil {
		return nil, errs.Cluster(fmt.Errorf("discover kind %s: %w", gvk, err))
	}
	res := w.c.client.Dynamic.Resource(mapping.Resource)
	out := map[object.Key]*unstructured.Unstructured{}
	for _, ref := range refs {
		var obj *unstructured.Unstructured
		if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
			obj, err = res.Namespace(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		} else {
			obj, err = res.Get(ctx, ref.Name, metav1.GetOptions{})
		}
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, errs.Cluster(fmt.Errorf("get %s: %w", ref, err))
		}
		out[ref.Key()] = obj
	}
	return out, nil
}

// signature identifies a set of pending statuses, to report changes only.
func signature(pending []ObjectStatus) string {
	s := ""
	for _, p := range pending {
		s += p.Ref.String() + "\x00" + string(p.Status) + "\x00" + p.Message + "\x01"
	}
	return s
}
