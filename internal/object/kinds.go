package object

import (
	"cmp"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// OtherKinds marks the place in KindOrder of every kind the list does not
// name, custom resources above all: after the workloads they usually
// configure, before the webhooks that would intercept their creation.
const OtherKinds = "*"

// KindOrder is the order in which objects of a component are created, by
// kind. Definitions come first (a custom resource needs its CRD, a namespaced
// object its Namespace), then cluster-wide policy and classes, then
// namespaced configuration, then workloads that consume it, and admission
// webhooks last so that they cannot reject objects of their own component
// before the service behind them exists. The apply engine stages and prune
// reverses by the same list; use KindRank rather than indexing it.
var KindOrder = []string{
	"CustomResourceDefinition",
	"Namespace",
	"PriorityClass",
	"PriorityLevelConfiguration",
	"FlowSchema",
	"RuntimeClass",
	"StorageClass",
	"VolumeAttributesClass",
	"CSIDriver",
	"IngressClass",
	"DeviceClass",
	"PersistentVolume",
	"ClusterRole",
	"ClusterRoleBinding",
	"ResourceQuota",
	"LimitRange",
	"NetworkPolicy",
	"ServiceAccount",
	"Role",
	"RoleBinding",
	"Secret",
	"ConfigMap",
	"PersistentVolumeClaim",
	"Service",
	"Endpoints",
	"EndpointSlice",
	"PodDisruptionBudget",
	"DaemonSet",
	"Pod",
	"ReplicationController",
	"ReplicaSet",
	"Deployment",
	"StatefulSet",
	"Job",
	"CronJob",
	"HorizontalPodAutoscaler",
	"Ingress",
	OtherKinds,
	"APIService",
	"ValidatingAdmissionPolicy",
	"ValidatingAdmissionPolicyBinding",
	"MutatingAdmissionPolicy",
	"MutatingAdmissionPolicyBinding",
	"MutatingWebhookConfiguration",
	"ValidatingWebhookConfiguration",
}

var kindRanks = func() map[string]int {
	m := make(map[string]int, len(KindOrder))
	for i, k := range KindOrder {
		m[k] = i
	}
	return m
}()

// KindRank is the position of kind in KindOrder; kinds it does not name share
// the rank of OtherKinds.
func KindRank(kind string) int {
	if r, ok := kindRanks[kind]; ok {
		return r
	}
	return kindRanks[OtherKinds]
}

// Compare orders objects by KindRank, then kind and group (which separates
// the kinds that share the OtherKinds rank), then namespace and name. It is
// a total order on distinct objects, so that rendered output never depends
// on the order in which a tool emitted them.
func Compare(a, b *unstructured.Unstructured) int {
	return compareKeys(RefOf(a).Key(), RefOf(b).Key())
}

func compareKeys(a, b Key) int {
	return cmp.Or(
		cmp.Compare(KindRank(a.Kind), KindRank(b.Kind)),
		cmp.Compare(a.Kind, b.Kind),
		cmp.Compare(a.Group, b.Group),
		cmp.Compare(a.Namespace, b.Namespace),
		cmp.Compare(a.Name, b.Name),
	)
}
