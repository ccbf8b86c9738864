package health

import (
	"context"
	"errors"
	"fmt"
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
	"github.com/envctl/envctl/internal/inventory"
)

// Wait waits until every object in objs is ready in opts.Mode. The objects
// are the observed state the caller already holds (what the apply returned,
// or what it listed), so objects that are ready from the start cost no
// request; the others are re-read with one LIST per kind and namespace set
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

// refresh re-reads the objects that are not ready.
func (w *waiter) refresh(ctx context.Context) error {
	type group struct {
		gvk        schema.GroupVersionKind
		namespaces map[string]bool
		idx        []int
	}
	groups := map[schema.GroupVersionKind]*group{}
	var order []schema.GroupVersionKind
	for i, s := range w.status {
		if s.Status == kstatus.CurrentStatus {
			continue
		}
		gvk := s.Ref.GroupVersionKind()
		g := groups[gvk]
		if g == nil {
			g = &group{gvk: gvk, namespaces: map[string]bool{}}
			groups[gvk] = g
			order = append(order, gvk)
		}
		g.namespaces[s.Ref.Namespace] = true
		g.idx = append(g.idx, i)
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for _, gvk := range order {
		g := groups[gvk]
		wg.Go(func() {
			found, err := w.read(ctx, g.gvk, g.namespaces, g.idx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			for _, i := range g.idx {
				obj := found[w.status[i].Ref.Key()]
				if obj == nil {
					w.status[i] = ObjectStatus{Ref: w.status[i].Ref, Status: kstatus.NotFoundStatus, Message: "not found"}
					continue
				}
				w.objs[i] = obj
				w.status[i] = compute(obj, w.opts.Mode)
			}
		})
	}
	wg.Wait()
	return firstErr
}

// read fetches the objects of one kind at idx: by LIST with the selector
// when there is one and more than one object, by GET otherwise, and by GET
// for any object the LIST did not return (its labels may differ).
func (w *waiter) read(ctx context.Context, gvk schema.GroupVersionKind, namespaces map[string]bool, idx []int) (map[inventory.Key]*unstructured.Unstructured, error) {
	mapping, err := w.c.client.Mapper.Mapping(ctx, gvk)
	if err != nil {
		if meta.IsNoMatchError(err) {
			return nil, nil
		}
		return nil, errs.Cluster(fmt.Errorf("discover kind %s: %w", gvk, err))
	}
	res := w.c.client.Dynamic.Resource(mapping.Resource)
	namespaced := mapping.Scope.Name() == meta.RESTScopeNameNamespace
	found := map[inventory.Key]*unstructured.Unstructured{}
	if w.opts.Selector != "" && len(idx) > 1 {
		opts := metav1.ListOptions{LabelSelector: w.opts.Selector}
		var lists []*unstructured.UnstructuredList
		if namespaced && len(namespaces) == 1 {
			for ns := range namespaces {
				l, err := res.Namespace(ns).List(ctx, opts)
				if err != nil && !apierrors.IsNotFound(err) {
					return nil, errs.Cluster(fmt.Errorf("list %s in namespace %s: %w", gvk.Kind, ns, err))
				}
				if l != nil {
					lists = append(lists, l)
				}
			}
		} else {
			l, err := res.List(ctx, opts)
			if err != nil {
				return nil, errs.Cluster(fmt.Errorf("list %s: %w", gvk.Kind, err))
			}
			lists = append(lists, l)
		}
		for _, l := range lists {
			for i := range l.Items {
				it := &l.Items[i]
				it.SetGroupVersionKind(gvk)
				found[inventory.RefOf(it).Key()] = it
			}
		}
	}
	for _, i := range idx {
		ref := w.status[i].Ref
		if found[ref.Key()] != nil {
			continue
		}
		var obj *unstructured.Unstructured
		if namespaced {
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
		found[ref.Key()] = obj
	}
	return found, nil
}

// signature identifies a set of pending statuses, to report changes only.
func signature(pending []ObjectStatus) string {
	s := ""
	for _, p := range pending {
		s += p.Ref.String() + "\x00" + string(p.Status) + "\x00" + p.Message + "\x01"
	}
	return s
}
