// Package inventory records, in the cluster, what envctl applied for an
// environment, so that a later run can prune what is no longer declared
// and tell unchanged objects from drifted ones without writing.
package inventory

import (
	"slices"
	"time"

	"github.com/envctl/envctl/internal/object"
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

	// Version is the stored version this inventory was loaded from or last
	// saved as (the resourceVersion of its first ConfigMap); "" for one not
	// stored yet. Save writes only over that version. It is not stored.
	Version string `json:"-"`
}

// Entry is one applied object.
type Entry struct {
	object.Ref
	Component string `json:"component"`
	// Digest is a hash of the object as rendered (what envctl sent).
	Digest string `json:"digest,omitempty"`
	// Fields is a hash of the fields envctl's field manager owned on the
	// object right after the apply. When the live object still has the same
	// Digest annotation and the same owned fields, it has not drifted.
	Fields string `json:"fields,omitempty"`
}

// Sort puts the entries in Ref order, the order Save stores them in.
func (inv *Inventory) Sort() {
	slices.SortFunc(inv.Entries, func(a, b Entry) int { return a.Compare(b.Ref) })
}

// Index maps each entry's Key to the entry.
func (inv *Inventory) Index() map[object.Key]Entry {
	if inv == nil {
		return nil
	}
	m := make(map[object.Key]Entry, len(inv.Entries))
	for _, e := range inv.Entries {
		m[e.Key()] = e
	}
	return m
}

// Lookup returns the entry for the object with key k.
func (inv *Inventory) Lookup(k object.Key) (Entry, bool) {
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
		*out = *inv // Version included: it replaces what inv was read as
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
