package plan

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
	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/kube"
)

// listLive reads the live objects among objs that carry selector's labels.
func listLive(ctx context.Context, client *kube.Client, objs []*object, selector string) (map[inventory.Key]*unstructured.Unstructured, error) {
	var refs []inventory.Ref
	for _, o := range objs {
		if o.mapping != nil {
			refs = append(refs, o.item.Ref)
		}
	}
	return Live(ctx, client, refs, selector)
}

// Live reads the live objects of refs that match selector, with one LIST
// per kind (per namespace where a cluster-wide LIST is forbidden), so that
// reading a thousand objects costs a handful of requests rather than a
// thousand. Objects the LIST does not return (missing, or without the
// selector's labels) are absent from the map, as are objects of kinds the
// cluster does not serve.
func Live(ctx context.Context, client *kube.Client, refs []inventory.Ref, selector string) (map[inventory.Key]*unstructured.Unstructured, error) {
	type kindNS struct {
		mapping    *meta.RESTMapping
		namespaces []string
	}
	kinds := map[schema.GroupVersionResource]*kindNS{}
	mappings := map[schema.GroupVersionKind]*meta.RESTMapping{}
	for _, r := range refs {
		gvk := r.GroupVersionKind()
		mapping, seen := mappings[gvk]
		if !seen {
			var err error
			mapping, err = client.Mapper.Mapping(ctx, gvk)
			if meta.IsNoMatchError(err) && gvk.Version != "" {
				// Recorded at a version no longer served: read it at the
				// preferred one.
				mapping, err = client.Mapper.Mapping(ctx, schema.GroupVersionKind{Group: gvk.Group, Kind: gvk.Kind})
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
			k = &kindNS{mapping: mapping}
			kinds[mapping.Resource] = k
		}
		if !slices.Contains(k.namespaces, r.Namespace) {
			k.namespaces = append(k.namespaces, r.Namespace)
		}
	}
	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		live  = map[inventory.Key]*unstructured.Unstructured{}
		first error
	)
	for _, k := range kinds {
		wg.Go(func() {
			items, err := listKind(ctx, client, k.mapping, k.namespaces, selector)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if first == nil {
					first = err
				}
				return
			}
			for _, it := range items {
				live[inventory.RefOf(it).Key()] = it
			}
		})
	}
	wg.Wait()
	return live, first
}

func listKind(ctx context.Context, client *kube.Client, mapping *meta.RESTMapping, namespaces []string, selector string) ([]*unstructured.Unstructured, error) {
	res := client.Dynamic.Resource(mapping.Resource)
	opts := metav1.ListOptions{LabelSelector: selector}
	kind := mapping.GroupVersionKind
	list, err := res.List(ctx, opts)
	if err == nil {
		return items(list, kind), nil
	}
	if mapping.Scope.Name() != meta.RESTScopeNameNamespace || !apierrors.IsForbidden(err) {
		return nil, errs.Cluster(fmt.Errorf("list %s: %w", kind.Kind, err))
	}
	// Allowed per namespace only.
	var out []*unstructured.Unstructured
	for _, ns := range namespaces {
		list, err := res.Namespace(ns).List(ctx, opts)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, errs.Cluster(fmt.Errorf("list %s in namespace %s: %w", kind.Kind, ns, err))
		}
		out = append(out, items(list, kind)...)
	}
	return out, nil
}

// items returns the list's objects with their kind set, which some list
// encodings leave out.
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
