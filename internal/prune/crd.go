package prune

import (
	"context"
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

const crdGroup = "apiextensions.k8s.io"

// maxCRListPages bounds the pages unmanagedCustomResources reads; past it,
// the CRD is held as if its custom resources were someone else's.
const maxCRListPages = 20

// unmanagedCustomResources says why the CRD crd must not be deleted: custom
// resources of it exist that are not this environment's (deleting a CRD
// deletes every object of its kind), or "" when none do. This environment's
// own custom resources are pruned before their CRD, so they do not count.
func (r *runner) unmanagedCustomResources(ctx context.Context, crd *unstructured.Unstructured) (string, error) {
	group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
	plural, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "plural")
	kind, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "kind")
	version := servedVersion(crd)
	if plural == "" || version == "" {
		return "", nil // no kind is served: nothing can exist
	}
	res := r.client.Metadata.Resource(schema.GroupVersionResource{Group: group, Version: version, Resource: plural})
	var (
		count    int
		examples []string
		cont     string
	)
	for page := 0; ; page++ {
		if page == maxCRListPages {
			return fmt.Sprintf("more than %d %s objects exist; envctl did not read them all to check that none is another's, and deleting the CRD would delete them all. Rerun with --prune-crds to delete it anyway", count, kind), nil
		}
		list, err := res.List(ctx, metav1.ListOptions{Limit: 500, Continue: cont})
		if err != nil {
			return "", err
		}
		for _, it := range list.Items {
			if notOwnedReason(it.GetLabels(), r.opts.Environment) == "" {
				continue
			}
			count++
			if len(examples) < 3 {
				name := it.GetName()
				if ns := it.GetNamespace(); ns != "" {
					name = ns + "/" + name
				}
				examples = append(examples, name)
			}
		}
		if cont = list.GetContinue(); cont == "" {
			break
		}
	}
	if count == 0 {
		return "", nil
	}
	return fmt.Sprintf("%d %s custom resource(s) that envctl does not manage for this environment exist (%s), and deleting the CRD would delete them with it. "+
		"Rerun with --prune-crds to delete it anyway, and them with it", count, kind, strings.Join(examples, ", ")), nil
}

// servedVersion is the version the CRD is stored at, else the first served.
func servedVersion(crd *unstructured.Unstructured) string {
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	first := ""
	for _, v := range versions {
		m, ok := v.(map[string]any)
		if !ok {
			continue
		}
		name, _ := m["name"].(string)
		served, _ := m["served"].(bool)
		storage, _ := m["storage"].(bool)
		if served && storage {
			return name
		}
		if served && first == "" {
			first = name
		}
	}
	return first
}
