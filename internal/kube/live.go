package kube

import (
	"context"
	"fmt"
	"slices"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/object"
)

// ListLive reads the live objects of the kinds of refs that carry
// selector's labels, with one LIST per kind, so that reading a thousand
// objects costs a handful of requests rather than a thousand. It is the one
// read of live state that apply, plan (diff) and status share.
//
// A kind whose refs all lie in one namespace is listed in that namespace
// only; a kind spread over several is listed cluster-wide, and per namespace
// when a cluster-wide LIST is forbidden. A ref recorded at a version the
// cluster no longer serves is read at the preferred version. Kinds the
// cluster does not serve at all (their CRD is part of this apply) are
// skipped: none of their objects can exist. Objects the LIST does not return
// (missing, or without the selector's labels) are absent from the map.
//
// An empty selector or no refs reads nothing and makes no request.
func (c *Client) ListLive(ctx context.Context, refs []object.Ref, selector string) (map[object.Key]*unstructured.Unstructured, error) {
	live := map[object.Key]*unstructured.Unstructured{}
	if selector == "" || len(refs) == 0 {
		return live, nil
	}
	kinds, err := c.kindsOf(ctx, refs)
	if err != nil {
		return nil, err
	}
	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		first error
	)
	for _, k := range kinds {
		wg.Go(func() {
			items, err := c.listKind(ctx, k.mapping, k.namespaces, selector)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if first == nil {
					first = err
				}
				return
			}
			for _, it := range items {
				live[object.RefOf(it).Key()] = it
			}
		})
	}
	wg.Wait()
	if first != nil {
		return nil, first
	}
	return live, nil
}

// kindToList is one LIST (or one per namespace) of ListLive.
type kindToList struct {
	mapping    *meta.RESTMapping
	namespaces []string
}

// kindsOf groups refs by the resource that serves them, so that two
// versions of one kind cost one LIST.
func (c *Client) kindsOf(ctx context.Context, refs []object.Ref) (map[schema.GroupVersionResource]*kindToList, error) {
	kinds := map[schema.GroupVersionResource]*kindToList{}
	mappings := map[schema.GroupVersionKind]*meta.RESTMapping{}
	for _, r := range refs {
		gvk := r.GroupVersionKind()
		mapping, seen := mappings[gvk]
		if !seen {
			var err error
			mapping, err = c.Mapper.Mapping(ctx, gvk)
			if meta.IsNoMatchError(err) && gvk.Version != "" {
				// Recorded at a version no longer served: read it at the
				// preferred one.
				mapping, err = c.Mapper.Mapping(ctx, schema.GroupVersionKind{Group: gvk.Group, Kind: gvk.Kind})
			}
			if err != nil && !meta.IsNoMatchError(err) {
				return nil, errs.Cluster(fmt.Errorf("discover kind %s: %w", gvk, err))
			}
			if err != nil {
				mapping = nil
			}
			mappings[gvk] = mapping
		}
		if mapping == nil {
			continue
		}
		k := kinds[mapping.Resource]
		if k == nil {
			k = &kindToList{mapping: mapping}
			kinds[mapping.Resource] = k
		}
		ns := r.Namespace
		if ns == "" && mapping.Scope.Name() == meta.RESTScopeNameNamespace {
			// Where the apply puts a namespaced object that names none.
			ns = "default"
		}
		if !slices.Contains(k.namespaces, ns) {
			k.namespaces = append(k.namespaces, ns)
		}
	}
	return kinds, nil
}

// listKind lists the objects of one kind matching selector in namespaces.
func (c *Client) listKind(ctx context.Context, mapping *meta.RESTMapping, namespaces []string, selector string) ([]*unstructured.Unstructured, error) {
	res := c.Dynamic.Resource(mapping.Resource)
	opts := metav1.ListOptions{LabelSelector: selector}
	gvk := mapping.GroupVersionKind
	if mapping.Scope.Name() != meta.RESTScopeNameNamespace {
		list, err := res.List(ctx, opts)
		if err != nil {
			return nil, errs.Cluster(fmt.Errorf("list %s: %w", gvk.Kind, err))
		}
		return items(list, gvk), nil
	}
	if len(namespaces) > 1 {
		list, err := res.List(ctx, opts)
		if err == nil {
			return items(list, gvk), nil
		}
		if !apierrors.IsForbidden(err) {
			return nil, errs.Cluster(fmt.Errorf("list %s in all namespaces: %w", gvk.Kind, err))
		}
		// Allowed per namespace only: fall through.
	}
	var out []*unstructured.Unstructured
	for _, ns := range namespaces {
		list, err := res.Namespace(ns).List(ctx, opts)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, errs.Cluster(fmt.Errorf("list %s in namespace %s: %w", gvk.Kind, ns, err))
		}
		out = append(out, items(list, gvk)...)
	}
	return out, nil
}

// items returns the list's objects with their kind set: some list encodings
// leave it out, and the key and any later kstatus computation need it.
func items(list *unstructured.UnstructuredList, gvk schema.GroupVersionKind) []*unstructured.Unstructured {
	out := make([]*unstructured.Unstructured, len(list.Items))
	for i := range list.Items {
		it := &list.Items[i]
		if it.GetKind() == "" {
			it.SetGroupVersionKind(gvk)
		}
		out[i] = it
	}
	return out
}
