package prune

import (
	"cmp"

	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/object"
)

// componentOrder maps each component of inv to its position in the apply
// order recorded in the inventory.
func componentOrder(inv *inventory.Inventory) map[string]int {
	m := map[string]int{}
	if inv == nil {
		return m
	}
	for i, c := range inv.Components {
		m[c] = i
	}
	return m
}

// componentRank is c's position in order; a component the inventory does
// not list counts as applied last, so it is deleted first.
func componentRank(order map[string]int, c string) int {
	if r, ok := order[c]; ok {
		return r
	}
	return len(order)
}

// compareDeletion orders deletions as the reverse of the apply order: by
// kind first (workloads before their configuration, custom resources before
// their CRDs, Namespaces last), then by component, dependents before what
// they depend on.
func compareDeletion(a, b inventory.Entry, order map[string]int) int {
	return cmp.Or(
		cmp.Compare(object.KindRank(b.Kind), object.KindRank(a.Kind)),
		cmp.Compare(componentRank(order, b.Component), componentRank(order, a.Component)),
		cmp.Compare(a.Namespace, b.Namespace),
		cmp.Compare(a.Name, b.Name),
		cmp.Compare(a.Group, b.Group),
		cmp.Compare(a.Kind, b.Kind),
	)
}

// waves splits entries, already in deletion order, into runs of the same
// kind rank: the objects of one wave are deleted concurrently, and a wave
// starts only when the one before it is done.
func waves(entries []inventory.Entry) [][]inventory.Entry {
	var out [][]inventory.Entry
	for i, e := range entries {
		if i == 0 || object.KindRank(e.Kind) != object.KindRank(entries[i-1].Kind) {
			out = append(out, nil)
		}
		out[len(out)-1] = append(out[len(out)-1], e)
	}
	return out
}
