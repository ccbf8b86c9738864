package apply

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/inventory"
)

// Live is the live state of a set of objects, read once for several Apply
// calls. The engine reads the objects of every component of an environment
// with the environment's selector before the first component starts and
// hands the result to each component's Apply (Options.Live), so that a
// reconcile costs one LIST per kind rather than one per kind and component.
// A Live is not modified after ReadLive returns it; Apply calls running side
// by side share it.
type Live struct {
	readAt time.Time
	objs   map[inventory.Key]*unstructured.Unstructured
	// kinds are the kinds whose live objects were read, or which the
	// cluster did not serve at the time (none of their objects existed).
	kinds map[schema.GroupVersionKind]bool
}

// ReadLive reads the live objects of the kinds among objs that carry
// selector's labels, with one LIST per kind (see listLive). An empty
// selector reads nothing and covers no kind.
func (m *Manager) ReadLive(ctx context.Context, objs []*unstructured.Unstructured, selector string) (*Live, error) {
	l := &Live{readAt: time.Now(), kinds: map[schema.GroupVersionKind]bool{}}
	if selector == "" {
		l.objs = map[inventory.Key]*unstructured.Unstructured{}
		return l, nil
	}
	live, err := m.listLive(ctx, objs, selector)
	if err != nil {
		return nil, err
	}
	l.objs = live
	for _, o := range objs {
		l.kinds[o.GroupVersionKind()] = true
	}
	return l, nil
}

// ReadAt is when the read started. A change made on the cluster after it
// (drift, a deletion) is not in the Live, so a caller hands it only to
// Apply calls that start soon after.
func (l *Live) ReadAt() time.Time { return l.readAt }

// liveFor returns the live objects of one Apply call: those of opts.Live
// that match opts.Selector, and, for kinds opts.Live does not cover, what a
// LIST per kind with opts.Selector finds.
func (m *Manager) liveFor(ctx context.Context, objs []*unstructured.Unstructured, opts Options) (map[inventory.Key]*unstructured.Unstructured, error) {
	if opts.Live == nil || opts.Selector == "" {
		return m.listLive(ctx, objs, opts.Selector)
	}
	sel, err := labels.Parse(opts.Selector)
	if err != nil {
		return nil, fmt.Errorf("apply: selector %q: %w", opts.Selector, err)
	}
	var uncovered []*unstructured.Unstructured
	for _, o := range objs {
		if !opts.Live.kinds[o.GroupVersionKind()] {
			uncovered = append(uncovered, o)
		}
	}
	live, err := m.listLive(ctx, uncovered, opts.Selector)
	if err != nil {
		return nil, err
	}
	for k, obj := range opts.Live.objs {
		if _, listed := live[k]; !listed && sel.Matches(labels.Set(obj.GetLabels())) {
			live[k] = obj
		}
	}
	return live, nil
}

// listLive reads the live state of objs with one LIST per kind (per
// namespace only when the kind spans one namespace or a cluster-wide LIST is
// forbidden), filtered by selector. This is what lets a reconcile with
// nothing to do cost a handful of reads instead of one per object. Kinds the
// cluster does not serve yet (their CRD is part of this apply) are skipped:
// none of their objects can exist. An empty selector reads nothing, and
// every object is then applied.
func (m *Manager) listLive(ctx context.Context, objs []*unstructured.Unstructured, selector string) (map[inventory.Key]*unstructured.Unstructured, error) {
	live := map[inventory.Key]*unstructured.Unstructured{}
	if selector == "" || len(objs) == 0 {
		return live, nil
	}
	namespaces := map[schema.GroupVersionKind]map[string]bool{}
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		if namespaces[gvk] == nil {
			namespaces[gvk] = map[string]bool{}
		}
		namespaces[gvk][o.GetNamespace()] = true
	}
	gvks := make([]schema.GroupVersionKind, 0, len(namespaces))
	for gvk := range namespaces {
		gvks = append(gvks, gvk)
	}
	sort.Slice(gvks, func(i, j int) bool { return gvks[i].String() < gvks[j].String() })

	var (
		mu       sync.Mutex
		wg       sync.WaitGroup
		firstErr error
	)
	for _, gvk := range gvks {
		mapping, err := m.client.Mapper.Mapping(ctx, gvk)
		if meta.IsNoMatchError(err) {
			continue
		}
		if err != nil {
			return nil, errs.Cluster(fmt.Errorf("discover kind %s: %w", gvk, err))
		}
		wg.Go(func() {
			items, err := m.listKind(ctx, mapping, namespaces[gvk], selector)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			for _, it := range items {
				live[inventory.RefOf(it).Key()] = it
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return live, nil
}

// listKind lists the objects of one kind matching selector in namespaces.
func (m *Manager) listKind(ctx context.Context, mapping *meta.RESTMapping, namespaces map[string]bool, selector string) ([]*unstructured.Unstructured, error) {
	res := m.client.Dynamic.Resource(mapping.Resource)
	opts := metav1.ListOptions{LabelSelector: selector}
	kind := mapping.GroupVersionKind.Kind
	if mapping.Scope.Name() != meta.RESTScopeNameNamespace {
		list, err := res.List(ctx, opts)
		if err != nil {
			return nil, errs.Cluster(fmt.Errorf("list %s: %w", kind, err))
		}
		return items(list), nil
	}
	if len(namespaces) > 1 {
		list, err := res.List(ctx, opts)
		if err == nil {
			return items(list), nil
		}
		if !apierrors.IsForbidden(err) {
			return nil, errs.Cluster(fmt.Errorf("list %s in all namespaces: %w", kind, err))
		}
		// Allowed per namespace only: fall through.
	}
	var out []*unstructured.Unstructured
	for ns := range namespaces {
		if ns == "" {
			ns = "default"
		}
		list, err := res.Namespace(ns).List(ctx, opts)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, errs.Cluster(fmt.Errorf("list %s in namespace %s: %w", kind, ns, err))
		}
		out = append(out, items(list)...)
	}
	return out, nil
}

func items(list *unstructured.UnstructuredList) []*unstructured.Unstructured {
	out := make([]*unstructured.Unstructured, len(list.Items))
	for i := range list.Items {
		it := &list.Items[i]
		// A list's items carry no kind in some encodings; restore it so that
		// the key and any later kstatus computation see the object's kind.
		if it.GetKind() == "" {
			it.SetGroupVersionKind(schema.FromAPIVersionAndKind(list.GetAPIVersion(), kindFromList(list.GetKind())))
		}
		out[i] = it
	}
	return out
}

func kindFromList(listKind string) string {
	const suffix = "List"
	if len(listKind) > len(suffix) && listKind[len(listKind)-len(suffix):] == suffix {
		return listKind[:len(listKind)-len(suffix)]
	}
	return listKind
}
