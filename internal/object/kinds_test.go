package object

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func obj(apiVersion, kind, ns, name string) *unstructured.Unstructured {
	o := &unstructured.Unstructured{}
	o.SetAPIVersion(apiVersion)
	o.SetKind(kind)
	o.SetNamespace(ns)
	o.SetName(name)
	return o
}

func TestCompare(t *testing.T) {
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
	slices.SortFunc(sorted, Compare)
	for _, o := range sorted {
		got = append(got, RefOf(o).String())
	}
	want := []string{
		"CustomResourceDefinition.apiextensions.k8s.io inferenceservices.serving.kserve.io",
		"Namespace a",
		"ClusterRole.rbac.authorization.k8s.io reader",
		"ServiceAccount a/api",
		"Secret a/creds",
		"ConfigMap a/settings",
		"Deployment.apps a/api",
		"Deployment.apps b/api",
		"InferenceService.other.example.com a/model",
		"InferenceService.serving.kserve.io a/model",
		"ServiceMonitor.monitoring.coreos.com a/api",
		"ValidatingWebhookConfiguration.admissionregistration.k8s.io policy",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
	// The order does not depend on the input order.
	slices.Reverse(in)
	slices.SortFunc(in, Compare)
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
