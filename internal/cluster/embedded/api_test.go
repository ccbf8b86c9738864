package embedded_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/ptr"

	"github.com/envctl/envctl/internal/testenv"
)

var widgets = schema.GroupVersionResource{Group: "test.envctl.dev", Version: "v1", Resource: "widgets"}

// widgetCRD is a namespaced custom resource with a schema, so that
// validation of custom resources can be checked.
func widgetCRD() *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1",
		"kind":       "CustomResourceDefinition",
		"metadata":   map[string]any{"name": "widgets.test.envctl.dev"},
		"spec": map[string]any{
			"group": "test.envctl.dev",
			"scope": "Namespaced",
			"names": map[string]any{"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
			"versions": []any{map[string]any{
				"name": "v1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{
					"type": "object",
					"properties": map[string]any{"spec": map[string]any{
						"type":       "object",
						"properties": map[string]any{"size": map[string]any{"type": "integer", "minimum": int64(1)}},
					}},
				}},
			}},
		},
	}}
}

func widget(ns, name string, size any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "test.envctl.dev/v1",
		"kind":       "Widget",
		"metadata":   map[string]any{"name": name, "namespace": ns},
		"spec":       map[string]any{"size": size},
	}}
}

func apply(ctx context.Context, r dynamic.ResourceInterface, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	return r.Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: "envctl-test", Force: true})
}

// TestCustomResourcesApplyAndGarbageCollection runs the API machinery envctl
// relies on: CRDs become Established and serve their resources, server-side
// apply records the field manager, schema validation rejects bad objects,
// and the garbage collector deletes dependents of a deleted owner.
func TestCustomResourcesApplyAndGarbageCollection(t *testing.T) {
	env := testenv.Get(t)
	ns := env.Namespace(t)
	dyn := env.Dynamic()
	ctx := context.Background()
	crds := dyn.Resource(apiextensionsv1.SchemeGroupVersion.WithResource("customresourcedefinitions"))
	if _, err := apply(ctx, crds, widgetCRD()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = crds.Delete(context.Background(), "widgets.test.envctl.dev", metav1.DeleteOptions{}) })
	eventually(t, 30*time.Second, "CRD widgets established", func(ctx context.Context) (bool, string, error) {
		crd, err := crds.Get(ctx, "widgets.test.envctl.dev", metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
		for _, c := range conds {
			m, _ := c.(map[string]any)
			if m["type"] == "Established" && m["status"] == "True" {
				return true, "", nil
			}
		}
		return false, fmt.Sprintf("conditions %v", conds), nil
	})

	res := dyn.Resource(widgets).Namespace(ns)
	var w *unstructured.Unstructured
	eventually(t, 10*time.Second, "widget applied", func(ctx context.Context) (bool, string, error) {
		var err error
		w, err = apply(ctx, res, widget(ns, "small", int64(2)))
		return err == nil, fmt.Sprint(err), nil
	})
	managers := map[string]bool{}
	for _, mf := range w.GetManagedFields() {
		managers[mf.Manager+"/"+string(mf.Operation)] = true
	}
	if !managers["envctl-test/Apply"] {
		t.Errorf("managed fields %v, want an Apply entry for envctl-test", managers)
	}
	// Schema validation rejects a value that breaks a rule (minimum 1) and
	// one of the wrong type. (Server-side apply reports a wrong type as a
	// 500 "failed to create typed patch object" — upstream behaviour — so
	// the wrong type is checked with a create.)
	if _, err := apply(ctx, res, widget(ns, "zero", int64(0))); !apierrors.IsInvalid(err) {
		t.Errorf("apply widget with size 0 (minimum 1): err %v, want Invalid", err)
	}
	if _, err := res.Create(ctx, widget(ns, "bad", "big"), metav1.CreateOptions{}); !apierrors.IsInvalid(err) {
		t.Errorf("create widget with a string size: err %v, want Invalid", err)
	}
	for _, name := range []string{"zero", "bad"} {
		if _, err := res.Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("invalid widget %s was stored (get: %v)", name, err)
		}
	}
}

// TestGarbageCollectorDeletesDependents checks owner references. (For an
// owner of a custom resource type, the collector only notices the type at
// its next discovery sync, up to 30 s later, as in any cluster.)
func TestGarbageCollectorDeletesDependents(t *testing.T) {
	env := testenv.Get(t)
	ns := env.Namespace(t)
	cms := env.Clientset().CoreV1().ConfigMaps(ns)
	ctx := context.Background()
	owner, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "owner"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dependent := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
		Name:            "dependent",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: owner.Name, UID: owner.UID}},
	}}
	if _, err := cms.Create(ctx, dependent, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cms.Delete(ctx, "owner", metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "dependent configmap garbage-collected", func(ctx context.Context) (bool, string, error) {
		_, err := cms.Get(ctx, "dependent", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, "", nil
		}
		return false, "still there", err
	})
}
