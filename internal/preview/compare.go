// Package preview compares two renders of an environment, offline: the
// state of a base revision and of a head (the work tree, or another ref),
// object by object per component, for a pull request's review. It renders
// both sides through the engine side by side (Run), computes what was
// added, removed and changed with unified diffs, Secret values masked
// (Compare), and writes the result as text, a Markdown comment or JSON.
package preview

import (
	"fmt"
	"reflect"
	"slices"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/envctl/envctl/internal/object"
	"github.com/envctl/envctl/internal/plan"
	"github.com/envctl/envctl/internal/render"
)

// Action is what became of one object between the base and the head.
type Action string

// Actions, in the order a reader cares about them.
const (
	Added   Action = "added"
	Removed Action = "removed"
	Changed Action = "changed"
)

// Change is one object that differs between the two renders.
type Change struct {
	Ref    object.Ref `json:"ref"`
	Action Action     `json:"action"`
	// Diff is the unified diff of the object's YAML, base against head;
	// Secret values read "(sensitive value)", or "(sensitive value
	// changed)" on the head side when they differ; a value decrypted
	// from a SOPS file reads "<redacted>" wherever else it shows.
	Diff string `json:"diff"`
}

// Counts are how many objects were added, removed, changed and left alone.
type Counts struct {
	Added     int `json:"added"`
	Removed   int `json:"removed"`
	Changed   int `json:"changed"`
	Unchanged int `json:"unchanged"`
}

// Any says whether anything differs.
func (c Counts) Any() bool { return c.Added+c.Removed+c.Changed > 0 }

func (c *Counts) add(o Counts) {
	c.Added += o.Added
	c.Removed += o.Removed
	c.Changed += o.Changed
	c.Unchanged += o.Unchanged
}

// Component is the comparison of one component: its counts, and the
// objects that differ, in render order (the head's, then what only the
// base had).
type Component struct {
	Name string `json:"name"`
	Counts
	Changes []Change `json:"changes"`
}

// Compare compares two renders of one environment; either may be nil when
// the environment does not exist on that side. Every component of either
// render is listed, in the head's order and then the base's. A Change's
// diff names the objects "Kind ns/name (baseName)" and "(headName)".
func Compare(base, head *render.Result, baseName, headName string) ([]Component, Counts, error) {
	baseComps, headComps := componentsOf(base), componentsOf(head)
	var order []string
	for _, r := range []*render.Result{head, base} {
		if r == nil {
			continue
		}
		for _, c := range r.Components {
			if !slices.Contains(order, c.Name) {
				order = append(order, c.Name)
			}
		}
	}
	var out []Component
	var total Counts
	for _, name := range order {
		c, err := compareComponent(name, baseComps[name], headComps[name], baseName, headName)
		if err != nil {
			return nil, Counts{}, err
		}
		// A value decrypted from a SOPS file may sit in any object (a
		// ConfigMap built from one), not only in a masked Secret.
		for i := range c.Changes {
			c.Changes[i].Diff = base.Redact(head.Redact(c.Changes[i].Diff))
		}
		total.add(c.Counts)
		out = append(out, c)
	}
	return out, total, nil
}

// componentsOf maps r's components (none for a nil r) by name.
func componentsOf(r *render.Result) map[string]*render.Component {
	out := map[string]*render.Component{}
	if r != nil {
		for _, c := range r.Components {
			out[c.Name] = c
		}
	}
	return out
}

// objectsOf lists what a component declares: its objects, its Helm hooks
// and its chart tests, all of which a change to the repository can touch.
func objectsOf(c *render.Component) []*unstructured.Unstructured {
	if c == nil {
		return nil
	}
	out := append([]*unstructured.Unstructured{}, c.Objects...)
	for _, h := range c.Hooks {
		out = append(out, h.Object)
	}
	for _, t := range c.Tests {
		out = append(out, t.Object)
	}
	return out
}

func compareComponent(name string, base, head *render.Component, baseName, headName string) (Component, error) {
	c := Component{Name: name, Changes: []Change{}}
	before := map[object.Key]*unstructured.Unstructured{}
	baseObjs := objectsOf(base)
	for _, o := range baseObjs {
		before[object.RefOf(o).Key()] = o
	}
	seen := map[object.Key]bool{}
	for _, o := range objectsOf(head) {
		ref := object.RefOf(o)
		seen[ref.Key()] = true
		old := before[ref.Key()]
		if old != nil && reflect.DeepEqual(old.Object, o.Object) {
			c.Unchanged++
			continue
		}
		action := Changed
		if old == nil {
			action = Added
		}
		if err := c.record(ref, action, old, o, baseName, headName); err != nil {
			return c, err
		}
	}
	for _, o := range baseObjs {
		ref := object.RefOf(o)
		if seen[ref.Key()] {
			continue
		}
		seen[ref.Key()] = true
		if err := c.record(ref, Removed, o, nil, baseName, headName); err != nil {
			return c, err
		}
	}
	return c, nil
}

// record adds the change of ref from before to after (either nil).
func (c *Component) record(ref object.Ref, action Action, before, after *unstructured.Unstructured, baseName, headName string) error {
	diff, err := plan.ObjectDiff(fmt.Sprintf("%s (%s)", ref, baseName), fmt.Sprintf("%s (%s)", ref, headName), before, after)
	if err != nil {
		return fmt.Errorf("component %s: %s: write the diff: %w", c.Name, ref, err)
	}
	if diff == "" {
		// Equal once printed (a number typed differently, say): what an
		// apply would send is the same.
		c.Unchanged++
		return nil
	}
	switch action {
	case Added:
		c.Added++
	case Removed:
		c.Removed++
	default:
		c.Changed++
	}
	c.Changes = append(c.Changes, Change{Ref: ref, Action: action, Diff: diff})
	return nil
}
