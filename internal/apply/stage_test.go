package apply

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func newObject(apiVersion, kind, ns, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetNamespace(ns)
	u.SetName(name)
	return u
}

func TestStages(t *testing.T) {
	crd := newObject("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "models.ml.example.com")
	_ = unstructured.SetNestedField(crd.Object, "ml.example.com", "spec", "group")
	_ = unstructured.SetNestedField(crd.Object, "Model", "spec", "names", "kind")
	objs := []*unstructured.Unstructured{
		newObject("apps/v1", "Deployment", "ml", "web"),
		crd,
		newObject("ml.example.com/v1", "Model", "ml", "bert"),
		newObject("v1", "Namespace", "", "ml"),
		newObject("rbac.authorization.k8s.io/v1", "ClusterRole", "", "reader"),
		newObject("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", "", "hook"),
		// A custom kind that happens to be called Namespace is not a definition.
		newObject("example.com/v1", "Namespace", "", "lookalike"),
	}
	got := stages(objs)
	want := [numStages][]int{{1, 3, 4}, {0, 2, 5, 6}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stages (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[schema.GroupKind]bool{{Group: "ml.example.com", Kind: "Model"}: true}, definedKinds(objs)); diff != "" {
		t.Errorf("definedKinds (-want +got):\n%s", diff)
	}
}

func TestNormalize(t *testing.T) {
	namespaced := &meta.RESTMapping{Scope: meta.RESTScopeNamespace}
	cluster := &meta.RESTMapping{Scope: meta.RESTScopeRoot}
	tests := []struct {
		name    string
		obj     *unstructured.Unstructured
		mapping *meta.RESTMapping
		wantNS  string
	}{
		{"namespaced without namespace goes to default", newObject("v1", "ConfigMap", "", "c"), namespaced, "default"},
		{"namespaced keeps its namespace", newObject("v1", "ConfigMap", "ml", "c"), namespaced, "ml"},
		{"cluster-scoped drops a namespace", newObject("rbac.authorization.k8s.io/v1", "ClusterRole", "ml", "r"), cluster, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.obj.GetNamespace()
			got := InScope(tt.obj, tt.mapping)
			if got.GetNamespace() != tt.wantNS {
				t.Errorf("namespace = %q, want %q", got.GetNamespace(), tt.wantNS)
			}
			if tt.obj.GetNamespace() != before {
				t.Error("normalize modified its argument")
			}
		})
	}
}
