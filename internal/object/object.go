// Package object holds the identity of a Kubernetes object as envctl
// records and names it (Ref, Key) and the order in which kinds are applied.
// It is a leaf: the inventory, the client layer and every stage share it
// without linking one another.
package object

import (
	"cmp"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Ref identifies one object.
type Ref struct {
	Group     string `json:"group,omitempty"`
	Version   string `json:"version,omitempty"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// Key is the identity of an object with the version left out: the same
// object served at v1beta1 and v1 is one object, so an API version bump in
// the manifests is an update, never a prune and a create.
type Key struct {
	Group     string
	Kind      string
	Namespace string
	Name      string
}

// RefOf returns the Ref of obj.
func RefOf(obj *unstructured.Unstructured) Ref {
	gvk := obj.GroupVersionKind()
	return Ref{
		Group:     gvk.Group,
		Version:   gvk.Version,
		Kind:      gvk.Kind,
		Namespace: obj.GetNamespace(),
		Name:      obj.GetName(),
	}
}

// Key returns r's version-independent identity.
func (r Ref) Key() Key {
	return Key{Group: r.Group, Kind: r.Kind, Namespace: r.Namespace, Name: r.Name}
}

// GroupVersionKind returns r's group, version and kind.
func (r Ref) GroupVersionKind() schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: r.Group, Version: r.Version, Kind: r.Kind}
}

// String names the object the way messages do: "ConfigMap ml/model-config",
// or "Namespace ml" for a cluster-scoped object.
func (r Ref) String() string {
	return r.Key().String()
}

// String names the object the way messages do; see Ref.String.
func (k Key) String() string {
	kind := k.Kind
	if k.Group != "" {
		// Kinds are not unique across groups (Event, Ingress); the group keeps
		// the name unambiguous without the noise of a version.
		kind += "." + k.Group
	}
	if k.Namespace == "" {
		return kind + " " + k.Name
	}
	return kind + " " + k.Namespace + "/" + k.Name
}

// Compare orders refs by group, kind, namespace, name and then version, the
// order of an inventory's entries.
func (r Ref) Compare(o Ref) int {
	return cmp.Or(
		cmp.Compare(r.Group, o.Group),
		cmp.Compare(r.Kind, o.Kind),
		cmp.Compare(r.Namespace, o.Namespace),
		cmp.Compare(r.Name, o.Name),
		cmp.Compare(r.Version, o.Version),
	)
}
