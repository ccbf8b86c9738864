package render

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// ObjectID identifies an object in a cluster independently of its API
// version: two renders of the same object under different versions are the
// same object.
type ObjectID struct {
	Group     string
	Kind      string
	Namespace string
	Name      string
}

// IDOf returns the identity of obj.
func IDOf(obj *unstructured.Unstructured) ObjectID {
	gvk := obj.GroupVersionKind()
	return ObjectID{Group: gvk.Group, Kind: gvk.Kind, Namespace: obj.GetNamespace(), Name: obj.GetName()}
}

// GroupKind returns the object's group and kind.
func (id ObjectID) GroupKind() schema.GroupKind {
	return schema.GroupKind{Group: id.Group, Kind: id.Kind}
}

// String formats the ID as group/kind/namespace/name, with the core group
// written as "core" and a cluster-scoped object's namespace as "-" so that
// the four parts stay unambiguous.
func (id ObjectID) String() string {
	g, ns := id.Group, id.Namespace
	if g == "" {
		g = "core"
	}
	if ns == "" {
		ns = "-"
	}
	return fmt.Sprintf("%s/%s/%s/%s", g, id.Kind, ns, id.Name)
}

// builtinClusterScoped lists the cluster-scoped kinds of Kubernetes itself.
// Rendering has no cluster to ask, so this table and the CRDs of the render
// are how it decides whether an object without a namespace should get its
// release's namespace.
var builtinClusterScoped = map[schema.GroupKind]bool{
	{Group: "", Kind: "Namespace"}:                                                    true,
	{Group: "", Kind: "Node"}:                                                         true,
	{Group: "", Kind: "PersistentVolume"}:                                             true,
	{Group: "", Kind: "ComponentStatus"}:                                              true,
	{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}:                 true,
	{Group: "apiregistration.k8s.io", Kind: "APIService"}:                             true,
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}:                         true,
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding"}:                  true,
	{Group: "scheduling.k8s.io", Kind: "PriorityClass"}:                               true,
	{Group: "storage.k8s.io", Kind: "StorageClass"}:                                   true,
	{Group: "storage.k8s.io", Kind: "CSIDriver"}:                                      true,
	{Group: "storage.k8s.io", Kind: "CSINode"}:                                        true,
	{Group: "storage.k8s.io", Kind: "VolumeAttachment"}:                               true,
	{Group: "storage.k8s.io", Kind: "VolumeAttributesClass"}:                          true,
	{Group: "node.k8s.io", Kind: "RuntimeClass"}:                                      true,
	{Group: "networking.k8s.io", Kind: "IngressClass"}:                                true,
	{Group: "networking.k8s.io", Kind: "IPAddress"}:                                   true,
	{Group: "networking.k8s.io", Kind: "ServiceCIDR"}:                                 true,
	{Group: "admissionregistration.k8s.io", Kind: "MutatingWebhookConfiguration"}:     true,
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingWebhookConfiguration"}:   true,
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingAdmissionPolicy"}:        true,
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingAdmissionPolicyBinding"}: true,
	{Group: "admissionregistration.k8s.io", Kind: "MutatingAdmissionPolicy"}:          true,
	{Group: "admissionregistration.k8s.io", Kind: "MutatingAdmissionPolicyBinding"}:   true,
	{Group: "certificates.k8s.io", Kind: "CertificateSigningRequest"}:                 true,
	{Group: "certificates.k8s.io", Kind: "ClusterTrustBundle"}:                        true,
	{Group: "flowcontrol.apiserver.k8s.io", Kind: "FlowSchema"}:                       true,
	{Group: "flowcontrol.apiserver.k8s.io", Kind: "PriorityLevelConfiguration"}:       true,
	{Group: "resource.k8s.io", Kind: "DeviceClass"}:                                   true,
	{Group: "resource.k8s.io", Kind: "ResourceSlice"}:                                 true,
	{Group: "internal.apiserver.k8s.io", Kind: "StorageVersion"}:                      true,
	{Group: "storagemigration.k8s.io", Kind: "StorageVersionMigration"}:               true,
	{Group: "authentication.k8s.io", Kind: "TokenReview"}:                             true,
	{Group: "authentication.k8s.io", Kind: "SelfSubjectReview"}:                       true,
	{Group: "authorization.k8s.io", Kind: "SubjectAccessReview"}:                      true,
	{Group: "authorization.k8s.io", Kind: "SelfSubjectAccessReview"}:                  true,
	{Group: "authorization.k8s.io", Kind: "SelfSubjectRulesReview"}:                   true,
	{Group: "policy", Kind: "PodSecurityPolicy"}:                                      true,
	{Group: "metrics.k8s.io", Kind: "NodeMetrics"}:                                    true,
}

// builtinKnownGroups are the API groups of Kubernetes itself: a kind in one of
// them that builtinClusterScoped does not list is namespaced.
var builtinKnownGroups = map[string]bool{
	"": true, "apps": true, "batch": true, "autoscaling": true, "policy": true,
	"networking.k8s.io": true, "rbac.authorization.k8s.io": true, "storage.k8s.io": true,
	"scheduling.k8s.io": true, "coordination.k8s.io": true, "discovery.k8s.io": true,
	"events.k8s.io": true, "node.k8s.io": true, "apiextensions.k8s.io": true,
	"apiregistration.k8s.io": true, "admissionregistration.k8s.io": true,
	"certificates.k8s.io": true, "flowcontrol.apiserver.k8s.io": true, "resource.k8s.io": true,
	"authentication.k8s.io": true, "authorization.k8s.io": true, "storagemigration.k8s.io": true,
	"internal.apiserver.k8s.io": true, "metrics.k8s.io": true,
}

// Scope says whether objects of a kind live in a namespace.
type Scope int

// Scopes. ScopeUnknown is a kind neither Kubernetes nor a CRD of the render
// defines; the apply engine resolves it against the cluster.
const (
	ScopeUnknown Scope = iota
	ScopeNamespaced
	ScopeCluster
)

// scopes resolves kinds to scopes from the built-in table and the CRDs of a
// render.
type scopes map[schema.GroupKind]Scope

// newScopes collects the scope of every CRD among objs.
func newScopes(objs []*unstructured.Unstructured) scopes {
	s := scopes{}
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		if gvk.Group != "apiextensions.k8s.io" || gvk.Kind != "CustomResourceDefinition" {
			continue
		}
		group, _, _ := unstructured.NestedString(o.Object, "spec", "group")
		kind, _, _ := unstructured.NestedString(o.Object, "spec", "names", "kind")
		scope, _, _ := unstructured.NestedString(o.Object, "spec", "scope")
		if kind == "" {
			continue
		}
		if scope == "Cluster" {
			s[schema.GroupKind{Group: group, Kind: kind}] = ScopeCluster
		} else {
			s[schema.GroupKind{Group: group, Kind: kind}] = ScopeNamespaced
		}
	}
	return s
}

func (s scopes) of(gk schema.GroupKind) Scope {
	if sc, ok := s[gk]; ok {
		return sc
	}
	if builtinClusterScoped[gk] {
		return ScopeCluster
	}
	if builtinKnownGroups[gk.Group] {
		return ScopeNamespaced
	}
	return ScopeUnknown
}
