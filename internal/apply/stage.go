package apply

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The stages of an apply. Definitions go first because the rest depends on
// them: a custom resource cannot be applied before its CRD is established,
// nor a namespaced object before its Namespace exists.
const (
	stageDefinitions = iota
	stageResources
	numStages
)

// definitionKinds are the cluster-scoped kinds that other objects refer to
// and that refer to nothing applied later: the cluster-scoped head of
// object.KindOrder. Webhook configurations, APIServices and admission
// policies are left out on purpose: webhooks and APIServices point at
// Services that run in the second stage, and a policy registered first could
// reject the component's own objects.
var definitionKinds = map[schema.GroupKind]bool{
	{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}:           true,
	{Group: "", Kind: "Namespace"}:                                              true,
	{Group: "", Kind: "PersistentVolume"}:                                       true,
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}:                   true,
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding"}:            true,
	{Group: "scheduling.k8s.io", Kind: "PriorityClass"}:                         true,
	{Group: "storage.k8s.io", Kind: "StorageClass"}:                             true,
	{Group: "storage.k8s.io", Kind: "CSIDriver"}:                                true,
	{Group: "storage.k8s.io", Kind: "VolumeAttributesClass"}:                    true,
	{Group: "networking.k8s.io", Kind: "IngressClass"}:                          true,
	{Group: "node.k8s.io", Kind: "RuntimeClass"}:                                true,
	{Group: "flowcontrol.apiserver.k8s.io", Kind: "PriorityLevelConfiguration"}: true,
	{Group: "flowcontrol.apiserver.k8s.io", Kind: "FlowSchema"}:                 true,
	{Group: "resource.k8s.io", Kind: "DeviceClass"}:                             true,
}

var crdGroupKind = schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}

// stageOf returns the stage obj is applied in.
func stageOf(obj *unstructured.Unstructured) int {
	if definitionKinds[obj.GroupVersionKind().GroupKind()] {
		return stageDefinitions
	}
	return stageResources
}

// isCRD reports whether obj is a CustomResourceDefinition.
func isCRD(obj *unstructured.Unstructured) bool {
	return obj.GroupVersionKind().GroupKind() == crdGroupKind
}

// stages splits the indexes of objs by stage, keeping their order.
func stages(objs []*unstructured.Unstructured) [numStages][]int {
	var out [numStages][]int
	for i, o := range objs {
		s := stageOf(o)
		out[s] = append(out[s], i)
	}
	return out
}
