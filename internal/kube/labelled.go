package kube

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"

	"github.com/envctl/envctl/internal/errs"
)

// listAllConcurrency bounds the LISTs in flight of ListAllLabelled.
const listAllConcurrency = 8

// ListAllLabelled finds every object in the cluster, of every kind the
// cluster serves and lets be listed, that carries selector's labels. It
// reads metadata only, one LIST per kind (cluster-wide, or in each of
// namespaces when a cluster-wide LIST is forbidden), so that finding an
// environment's objects costs a few dozen small requests whatever the
// kinds. It is what rebuilds a lost inventory: the objects envctl applied
// carry the environment's labels, whatever the inventory remembers.
//
// Subresources and kinds that cannot be listed are skipped; a group whose
// discovery fails (an aggregated API that is down) is skipped too, and
// named in the second result, since its objects cannot be found.
func (c *Client) ListAllLabelled(ctx context.Context, selector string, namespaces []string) ([]*metav1.PartialObjectMetadata, []string, error) {
	lists, err := discovery.ServerPreferredResources(c.Discovery)
	var skipped []string
	if err != nil {
		var failed *discovery.ErrGroupDiscoveryFailed
		if !errors.As(err, &failed) || len(lists) == 0 {
			return nil, nil, errs.Cluster(fmt.Errorf("discover the cluster's kinds: %w", err))
		}
		for gv := range failed.Groups {
			skipped = append(skipped, gv.String())
		}
		slices.Sort(skipped)
	}
	type kind struct {
		gvr        schema.GroupVersionResource
		gvk        schema.GroupVersionKind
		namespaced bool
	}
	var kinds []kind
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range l.APIResources {
			if strings.Contains(r.Name, "/") || !slices.Contains(r.Verbs, "list") {
				continue
			}
			kinds = append(kinds, kind{gvr: gv.WithResource(r.Name), gvk: gv.WithKind(r.Kind), namespaced: r.Namespaced})
		}
	}
	var (
		mu    sync.Mutex
		out   []*metav1.PartialObjectMetadata
		first error
		wg    sync.WaitGroup
	)
	sem := make(chan struct{}, listAllConcurrency)
	for _, k := range kinds {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			items, err := c.listMetadata(ctx, k.gvr, k.namespaced, selector, namespaces)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if first == nil {
					first = errs.Cluster(fmt.Errorf("list %s: %w", k.gvk.Kind, err))
				}
				return
			}
			for _, it := range items {
				it.SetGroupVersionKind(k.gvk)
				out = append(out, it)
			}
		})
	}
	wg.Wait()
	if first != nil {
		return nil, skipped, first
	}
	return out, skipped, nil
}

// listMetadata lists the metadata of one kind's objects matching selector.
func (c *Client) listMetadata(ctx context.Context, gvr schema.GroupVersionResource, namespaced bool, selector string, namespaces []string) ([]*metav1.PartialObjectMetadata, error) {
	res := c.Metadata.Resource(gvr)
	opts := metav1.ListOptions{LabelSelector: selector}
	list, err := res.List(ctx, opts)
	switch {
	case err == nil:
		return items0(list), nil
	case apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err):
		return nil, nil // gone since discovery, or not listable after all
	case !namespaced || !apierrors.IsForbidden(err):
		if apierrors.IsForbidden(err) {
			return nil, nil // a cluster-scoped kind envctl may not read: nothing of ours can be there
		}
		return nil, err
	}
	// Allowed per namespace only.
	var out []*metav1.PartialObjectMetadata
	for _, ns := range namespaces {
		list, err := res.Namespace(ns).List(ctx, opts)
		if apierrors.IsNotFound(err) || apierrors.IsForbidden(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, items0(list)...)
	}
	return out, nil
}

func items0(list *metav1.PartialObjectMetadataList) []*metav1.PartialObjectMetadata {
	out := make([]*metav1.PartialObjectMetadata, len(list.Items))
	for i := range list.Items {
		out[i] = &list.Items[i]
	}
	return out
}
