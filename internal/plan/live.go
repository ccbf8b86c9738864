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

// listLive reads the live objects of this environment with one LIST per
// kind (per namespace where a cluster-wide LIST is forbidden), so that a
// plan of a thousand objects costs a handful of reads rather than a
// thousand.
func listLive(ctx context.Context, client *kube.Client, objs []*object, selector string) (map[inventory.Key]*unstructured.Unstructured, error) {
	type kindNS struct {
		mapping    *meta.RESTMapping
		namespaces []string
	}
	kinds := map[schema.GroupVersionResource]*kindNS{}
	for _, o := range objs {
		if o.mapping == nil {
			continue
		}
		k := kinds[o.mapping.Resource]
		if k == nil {
			k = &kindNS{mapping: o.mapping}
			kinds[o.mapping.Resource] = k
		}
		if ns := o.obj.GetNamespace(); !slices.Contains(k.namespaces, ns) {
			k.namespaces = append(k.namespaces, ns)
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
