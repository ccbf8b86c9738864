// Package inventory records, in the cluster, what envctl applied for an
// environment, so that a later run can prune what is no longer declared
// and tell unchanged objects from drifted ones without writing.
package inventory

import (
	"cmp"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Inventory is what envctl last applied for one environment.
type Inventory struct {
	Environment string `json:"environment"`
	// Repository names the repository the environment was applied from
	// (config.yaml's metadata.name). Environment names are chosen per
	// repository; two repositories that both call an environment "ci" must
	// not take each other's objects, so a run from another repository stops
	// at the inventory. Empty in inventories written before it was recorded.
	Repository string `json:"repository,omitempty"`
	// Revision is the source revision that was applied.
	Revision string `json:"revision"`
	// AppliedAt is when the apply that produced this inventory finished.
	// Save keeps the stored time when nothing else changed, so that a
	// reconcile with nothing to do writes nothing.
	AppliedAt time.Time `json:"appliedAt"`
	// Components are the names of the components applied, in order.
	Components []string `json:"components,omitempty"`
	// Entries are the objects applied, sorted by Ref.
	Entries []Entry `json:"entries"`
}

// Ref identifies one object.
type Ref struct {
	Group     string `json:"group,omitempty"`
	Version   string `json:"version,omitempty"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// Entry is one applied object.
type Entry struct {
	Ref
	Component string `json:"component"`
	// Digest is a hash of the object as rendered (what envctl sent).
	Digest string `json:"digest,omitempty"`
	// Fields is a hash of the fields envctl's field manager owned on the
	// object right after the apply. When the live object still has the same
	// Digest annotation and the same owned fields, it has not drifted.
	Fields string `json:"fields,omitempty"`
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
// order of Inventory.Entries.
func (r Ref) Compare(o Ref) int {
	return cmp.Or(
		cmp.Compare(r.Group, o.Group),
		cmp.Compare(r.Kind, o.Kind),
		cmp.Compare(r.Namespace, o.Namespace),
		cmp.Compare(r.Name, o.Name),
		cmp.Compare(r.Version, o.Version),
	)
}

// Sort puts the entries in Ref order, the order Save stores them in.
func (inv *Inventory) Sort() {
	slices.SortFunc(inv.Entries, func(a, b Entry) int { return a.Compare(b.Ref) })
}

// Index maps each entry's Key to the entry.
func (inv *Inventory) Index() map[Key]Entry {
	if inv == nil {
		return nil
	}
	m := make(map[Key]Entry, len(inv.Entries))
	for _, e := range inv.Entries {
		m[e.Key()] = e
	}
	return m
}

// Lookup returns the entry for the object with key k.
func (inv *Inventory) Lookup(k Key) (Entry, bool) {
	if inv == nil {
		return Entry{}, false
	}
	for _, e := range inv.Entries {
		if e.Key() == k {
			return e, true
		}
	}
	return Entry{}, false
}

// Has says whether the inventory holds the component: it was applied
// before, so a Helm release of it is an upgrade. A nil inventory holds none.
func (inv *Inventory) Has(component string) bool {
	if inv == nil {
		return false
	}
	return slices.Contains(inv.Components, component) || len(inv.ComponentEntries(component)) > 0
}

// ComponentEntries returns the entries of the named components, in order.
func (inv *Inventory) ComponentEntries(components ...string) []Entry {
	if inv == nil {
		return nil
	}
	var out []Entry
	for _, e := range inv.Entries {
		if slices.Contains(components, e.Component) {
			out = append(out, e)
		}
	}
	return out
}

// Replace returns a copy of inv in which the entries of the named
// components are replaced by entries. A run limited to some components
// (envctl apply --component) must keep what it did not touch, or the next
// full run would see those objects as new and a later prune would forget
// them.
func (inv *Inventory) Replace(components []string, entries []Entry) *Inventory {
	out := &Inventory{}
	if inv != nil {
		*out = *inv
		out.Components = slices.Clone(inv.Components)
		out.Entries = nil
		for _, e := range inv.Entries {
			if !slices.Contains(components, e.Component) {
				out.Entries = append(out.Entries, e)
			}
		}
	}
	out.Entries = append(out.Entries, entries...)
	for _, c := range components {
		if !slices.Contains(out.Components, c) {
			out.Components = append(out.Components, c)
		}
	}
	out.Sort()
	return out
}
