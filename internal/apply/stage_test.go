package apply

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func object(apiVersion, kind, ns, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetNamespace(ns)
	u.SetName(name)
	return u
}

func TestStages(t *testing.T) {
	crd := object("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "models.ml.example.com")
	_ = unstructured.SetNestedField(crd.Object, "ml.example.com", "spec", "group")
	_ = unstructured.SetNestedField(crd.Object, "Model", "spec", "names", "kind")
	objs := []*unstructured.Unstructured{
		object("apps/v1", "Deployment", "ml", "web"),
		crd,
		object("ml.example.com/v1", "Model", "ml", "bert"),
		object("v1", "Namespace", "", "ml"),
		object("rbac.authorization.k8s.io/v1", "ClusterRole", "", "reader"),
		object("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", "", "hook"),
		// A custom kind that happens to be called Namespace is not a definition.
		object("example.com/v1", "Namespace", "", "lookalike"),
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
		{"namespaced without namespace goes to default", object("v1", "ConfigMap", "", "c"), namespaced, "default"},
		{"namespaced keeps its namespace", object("v1", "ConfigMap", "ml", "c"), namespaced, "ml"},
		{"cluster-scoped drops a namespace", object("rbac.authorization.k8s.io/v1", "ClusterRole", "ml", "r"), cluster, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.obj.GetNamespace()
			got := normalize(tt.obj, tt.mapping)
			if got.GetNamespace() != tt.wantNS {
				t.Errorf("namespace = %q, want %q", got.GetNamespace(), tt.wantNS)
			}
			if tt.obj.GetNamespace() != before {
				t.Error("normalize modified its argument")
			}
		})
	}
}
