package kube

import (
	"context"
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
)

// ApplyOptions are the parameters of one server-side apply request.
type ApplyOptions struct {
	// FieldManager owns the applied fields; envctl's is "envctl".
	FieldManager string
	// Force takes over fields owned by other managers instead of failing
	// with a conflict.
	Force bool
	// DryRun asks the server to run admission and validation without
	// persisting anything.
	DryRun bool
}

// Apply sends obj as a server-side apply patch to the resource mapping
// names and returns the object the server answered with and whether the
// request created it. The dynamic client cannot say the latter; envctl needs
// it to report created apart from configured without a prior read.
func (c *Client) Apply(ctx context.Context, mapping *meta.RESTMapping, obj *unstructured.Unstructured, opts ApplyOptions) (*unstructured.Unstructured, bool, error) {
	if opts.FieldManager == "" {
		return nil, false, fmt.Errorf("apply %s: no field manager", Describe(obj))
	}
	body, err := json.Marshal(obj.Object)
	if err != nil {
		return nil, false, fmt.Errorf("apply %s: encode: %w", Describe(obj), err)
	}
	req := c.raw.Patch(types.ApplyPatchType).
		AbsPath(resourcePath(mapping, obj.GetNamespace(), obj.GetName())...).
		Param("fieldManager", opts.FieldManager).
		Body(body)
	if opts.Force {
		req = req.Param("force", "true")
	}
	if opts.DryRun {
		req = req.Param("dryRun", "All")
	}
	var created bool
	out := &unstructured.Unstructured{}
	if err := req.Do(ctx).WasCreated(&created).Into(out); err != nil {
		return nil, false, err
	}
	return out, created, nil
}

// resourcePath is the URL path of a named object of mapping's resource.
func resourcePath(mapping *meta.RESTMapping, namespace, name string) []string {
	gvr := mapping.Resource
	var p []string
	if gvr.Group == "" {
		p = []string{"api", gvr.Version}
	} else {
		p = []string{"apis", gvr.Group, gvr.Version}
	}
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		p = append(p, "namespaces", namespace)
	}
	return append(p, gvr.Resource, name)
}
