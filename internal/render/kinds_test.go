package render

import (
	"testing"

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
