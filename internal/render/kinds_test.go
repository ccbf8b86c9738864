package render

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func obj(apiVersion, kind, ns, name string) *unstructured.Unstructured {
	o := &unstructured.Unstructured{}
	o.SetAPIVersion(apiVersion)
	o.SetKind(kind)
	o.SetNamespace(ns)
	o.SetName(name)
	return o
}

func TestCompareObjects(t *testing.T) {
	in := []*unstructured.Unstructured{
		obj("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", "", "policy"),
		obj("apps/v1", "Deployment", "b", "api"),
		obj("apps/v1", "Deployment", "a", "api"),
		obj("serving.kserve.io/v1beta1", "InferenceService", "a", "model"),
		obj("monitoring.coreos.com/v1", "ServiceMonitor", "a", "api"),
		obj("v1", "ConfigMap", "a", "settings"),
		obj("v1", "Secret", "a", "creds"),
		obj("v1", "Namespace", "", "a"),
		obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "inferenceservices.serving.kserve.io"),
		obj("rbac.authorization.k8s.io/v1", "ClusterRole", "", "reader"),
		obj("v1", "ServiceAccount", "a", "api"),
		obj("other.example.com/v1", "InferenceService", "a", "model"),
	}
	var got []string
	sorted := slices.Clone(in)
	slices.SortFunc(sorted, CompareObjects)
	for _, o := range sorted {
		got = append(got, IDOf(o).String())
	}
	want := []string{
		"apiextensions.k8s.io/CustomResourceDefinition/-/inferenceservices.serving.kserve.io",
		"core/Namespace/-/a",
		"rbac.authorization.k8s.io/ClusterRole/-/reader",
		"core/ServiceAccount/a/api",
		"core/Secret/a/creds",
		"core/ConfigMap/a/settings",
		"apps/Deployment/a/api",
		"apps/Deployment/b/api",
		"other.example.com/InferenceService/a/model",
		"serving.kserve.io/InferenceService/a/model",
		"monitoring.coreos.com/ServiceMonitor/a/api",
		"admissionregistration.k8s.io/ValidatingWebhookConfiguration/-/policy",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
	// The order does not depend on the input order.
	slices.Reverse(in)
	slices.SortFunc(in, CompareObjects)
	if !slices.Equal(in, sorted) {
		t.Error("sorting the reversed input gives another order")
	}
}

func TestKindRank(t *testing.T) {
	if KindRank("SomeCustomKind") != KindRank(OtherKinds) {
		t.Error("an unknown kind does not share the OtherKinds rank")
	}
	before := func(a, b string) {
		t.Helper()
		if KindRank(a) >= KindRank(b) {
			t.Errorf("%s does not come before %s", a, b)
		}
	}
	before("CustomResourceDefinition", "Namespace")
	before("Namespace", "ClusterRole")
	before("ServiceAccount", "RoleBinding")
	before("ConfigMap", "Deployment")
	before("Service", "Deployment")
	before("Deployment", "HorizontalPodAutoscaler")
	before("SomeCustomKind", "ValidatingWebhookConfiguration")
	seen := map[string]bool{}
	for _, k := range KindOrder {
		if seen[k] {
			t.Errorf("KindOrder lists %s twice", k)
		}
		seen[k] = true
	}
}

func TestScopes(t *testing.T) {
	crd := func(group, kind, scope string) *unstructured.Unstructured {
		o := obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", kind)
		o.Object["spec"] = map[string]any{"group": group, "scope": scope, "names": map[string]any{"kind": kind}}
		return o
	}
	sc := newScopes([]*unstructured.Unstructured{
		crd("demo.envctl.dev", "Widget", "Namespaced"),
		crd("demo.envctl.dev", "Gadget", "Cluster"),
	})
	tests := map[schema.GroupKind]Scope{
		{Group: "demo.envctl.dev", Kind: "Widget"}:               ScopeNamespaced,
		{Group: "demo.envctl.dev", Kind: "Gadget"}:               ScopeCluster,
		{Group: "", Kind: "ConfigMap"}:                           ScopeNamespaced,
		{Group: "", Kind: "Namespace"}:                           ScopeCluster,
		{Group: "rbac.authorization.k8s.io", Kind: "Role"}:       ScopeNamespaced,
		{Group: "storage.k8s.io", Kind: "StorageClass"}:          ScopeCluster,
		{Group: "monitoring.coreos.com", Kind: "ServiceMonitor"}: ScopeUnknown,
	}
	for gk, want := range tests {
		if got := sc.of(gk); got != want {
			t.Errorf("scope of %s = %v, want %v", gk, got, want)
		}
	}
}
