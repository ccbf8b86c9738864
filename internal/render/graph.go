package render

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/envctl/envctl/internal/errs"
)

// maxReasons bounds the objects an inferred edge names; the rest are counted.
const maxReasons = 3

// order infers the dependencies that the components' objects imply, adds
// them to the declared ones, and returns the components in dependency
// order: layer by layer, by name within a layer.
//
// A component depends on another when one of its objects is of a kind that
// a CRD of the other defines, or lives in a namespace that the other
// declares: applied first, it would fail. A declared dependsOn wins over an
// inferred edge that contradicts it (the inferred edge is dropped); a cycle
// that inferred edges close is an error naming the objects behind each edge.
func (r *renderer) order(comps []*Component) ([]*Component, error) {
	byName := map[string]*Component{}
	for _, c := range comps {
		byName[c.Name] = c
	}
	inferred := inferEdges(comps)

	declared := map[string][]string{}
	for _, c := range comps {
		declared[c.Name] = c.DependsOn
	}
	for _, c := range comps {
		c.Edges = nil
		for _, d := range c.DependsOn {
			e := Edge{On: d, Declared: true}
			if inf, ok := inferred[c.Name][d]; ok {
				e.Reasons = inf
			}
			c.Edges = append(c.Edges, e)
		}
		for _, d := range sortedKeys(inferred[c.Name]) {
			if slices.Contains(c.DependsOn, d) {
				continue
			}
			if reaches(declared, d, c.Name) {
				r.log.Info("dependency inferred from the objects contradicts dependsOn; dependsOn wins",
					"component", c.Name, "on", d, "because", strings.Join(inferred[c.Name][d], "; "))
				continue
			}
			c.Edges = append(c.Edges, Edge{On: d, Reasons: inferred[c.Name][d]})
		}
		slices.SortFunc(c.Edges, func(a, b Edge) int { return strings.Compare(a.On, b.On) })
		c.DependsOn = c.DependsOn[:0:0]
		for _, e := range c.Edges {
			c.DependsOn = append(c.DependsOn, e.On)
		}
	}
	if cyc := findCycle(comps, byName); cyc != nil {
		return nil, cycleError(cyc, byName)
	}

	placed := map[string]bool{}
	out := make([]*Component, 0, len(comps))
	for len(out) < len(comps) {
		var layer []*Component
		for _, c := range comps {
			if placed[c.Name] {
				continue
			}
			ready := true
			for _, d := range c.DependsOn {
				if _, inRender := byName[d]; inRender && !placed[d] {
					ready = false
				}
			}
			if ready {
				layer = append(layer, c)
			}
		}
		slices.SortFunc(layer, func(a, b *Component) int { return strings.Compare(a.Name, b.Name) })
		for _, c := range layer {
			placed[c.Name] = true
		}
		out = append(out, layer...)
	}
	return out, nil
}

// inferEdges returns, per component, the components its objects need and
// why: component -> needed component -> reasons.
func inferEdges(comps []*Component) map[string]map[string][]string {
	type def struct{ comp, crd string }
	kinds := map[schema.GroupKind]def{}
	namespaces := map[string]string{}
	for _, c := range comps {
		for _, o := range c.Objects {
			gvk := o.GroupVersionKind()
			switch {
			case isCRD(o):
				group, _, _ := unstructured.NestedString(o.Object, "spec", "group")
				kind, _, _ := unstructured.NestedString(o.Object, "spec", "names", "kind")
				if kind != "" {
					kinds[schema.GroupKind{Group: group, Kind: kind}] = def{c.Name, o.GetName()}
				}
			case gvk.Group == "" && gvk.Kind == "Namespace":
				namespaces[o.GetName()] = c.Name
			}
		}
	}
	out := map[string]map[string][]string{}
	count := map[[2]string]int{}
	add := func(from, to, reason string) {
		if out[from] == nil {
			out[from] = map[string][]string{}
		}
		k := [2]string{from, to}
		count[k]++
		if len(out[from][to]) < maxReasons {
			out[from][to] = append(out[from][to], reason)
		}
	}
	// Kinds first: a missing CRD is the reason a reader looks for.
	for _, byKind := range []bool{true, false} {
		for _, c := range comps {
			objs := slices.Clone(c.Objects)
			for _, h := range slices.Concat(c.Hooks, c.Tests) {
				objs = append(objs, h.Object)
			}
			for _, o := range objs {
				gk := o.GroupVersionKind().GroupKind()
				if d, ok := kinds[gk]; byKind && ok && d.comp != c.Name {
					add(c.Name, d.comp, fmt.Sprintf("%s is a %s, defined by CRD %s", describeObject(o), gk, d.crd))
				}
				if ns := o.GetNamespace(); !byKind && ns != "" {
					if owner, ok := namespaces[ns]; ok && owner != c.Name {
						add(c.Name, owner, fmt.Sprintf("%s is in namespace %s", describeObject(o), ns))
					}
				}
			}
		}
	}
	for k, n := range count {
		if extra := n - maxReasons; extra > 0 {
			out[k[0]][k[1]] = append(out[k[0]][k[1]], fmt.Sprintf("and %d more", extra))
		}
	}
	return out
}

// describeObject names an object as kind namespace/name, or kind name.
func describeObject(o *unstructured.Unstructured) string {
	if ns := o.GetNamespace(); ns != "" {
		return fmt.Sprintf("%s %s/%s", o.GetKind(), ns, o.GetName())
	}
	return fmt.Sprintf("%s %s", o.GetKind(), o.GetName())
}

// reaches says whether from leads to to through edges.
func reaches(edges map[string][]string, from, to string) bool {
	seen := map[string]bool{}
	stack := []string{from}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if n == to {
			return true
		}
		if seen[n] {
			continue
		}
		seen[n] = true
		stack = append(stack, edges[n]...)
	}
	return false
}

// findCycle returns a dependency cycle among the components, as a path
// that starts and ends with the same component, or nil.
func findCycle(comps []*Component, byName map[string]*Component) []string {
	const (
		unvisited = iota
		onStack
		done
	)
	state := map[string]int{}
	var stack, cycle []string
	var visit func(string) bool
	visit = func(n string) bool {
		state[n] = onStack
		stack = append(stack, n)
		for _, d := range byName[n].DependsOn {
			if _, ok := byName[d]; !ok {
				continue
			}
			switch state[d] {
			case unvisited:
				if visit(d) {
					return true
				}
			case onStack:
				i := slices.Index(stack, d)
				cycle = append(slices.Clone(stack[i:]), d)
				return true
			}
		}
		stack = stack[:len(stack)-1]
		state[n] = done
		return false
	}
	for _, c := range comps {
		if state[c.Name] == unvisited && visit(c.Name) {
			return cycle
		}
	}
	return nil
}

// cycleError describes a dependency cycle edge by edge, each inferred edge
// with the objects that made it.
func cycleError(cyc []string, byName map[string]*Component) error {
	var b strings.Builder
	fmt.Fprintf(&b, "components depend on each other in a cycle: %s", strings.Join(cyc, " -> "))
	for i := 0; i+1 < len(cyc); i++ {
		from, to := cyc[i], cyc[i+1]
		for _, e := range byName[from].Edges {
			if e.On != to {
				continue
			}
			switch {
			case len(e.Reasons) > 0:
				fmt.Fprintf(&b, "\n  %s needs %s: %s", from, to, strings.Join(e.Reasons, "; "))
			case e.Declared:
				fmt.Fprintf(&b, "\n  %s needs %s: dependsOn says so", from, to)
			}
		}
	}
	b.WriteString("\nbreak the cycle: move the CRD or Namespace into the component that needs it, or into a component both depend on")
	return errs.Inputf("%s", b.String())
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
