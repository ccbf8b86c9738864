package apply

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/envctl/envctl/internal/object"
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
	objs   map[object.Key]*unstructured.Unstructured
	// kinds are the kinds whose live objects were read, or which the
	// cluster did not serve at the time (none of their objects existed).
	kinds map[schema.GroupVersionKind]bool
}

// ReadLive reads the live objects of the kinds among objs that carry
// selector's labels, with one LIST per kind (see kube.Client.ListLive). An empty
// selector reads nothing and covers no kind.
func (m *Manager) ReadLive(ctx context.Context, objs []*unstructured.Unstructured, selector string) (*Live, error) {
	l := &Live{readAt: time.Now(), kinds: map[schema.GroupVersionKind]bool{}}
	if selector == "" {
		l.objs = map[object.Key]*unstructured.Unstructured{}
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
func (m *Manager) liveFor(ctx context.Context, objs []*unstructured.Unstructured, opts Options) (map[object.Key]*unstructured.Unstructured, error) {
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

// listLive reads the live objects among objs that carry selector's labels
// with kube's ListLive (one LIST per kind). This is what lets a reconcile
// with nothing to do cost a handful of reads instead of one per object. An
// empty selector reads nothing, and every object is then applied.
func (m *Manager) listLive(ctx context.Context, objs []*unstructured.Unstructured, selector string) (map[object.Key]*unstructured.Unstructured, error) {
	refs := make([]object.Ref, len(objs))
	for i, o := range objs {
		refs[i] = object.RefOf(o)
	}
	return m.client.ListLive(ctx, refs, selector)
}
