package render

import (
	"fmt"
	"strings"
	"testing"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/ownership"
)

// scaleObjects is how many objects the scale test and benchmark render in
// one component.
const scaleObjects = 5000

// manyConfigMaps is one YAML stream of n ConfigMaps in namespace dev.
func manyConfigMaps(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%04d\n  namespace: dev\ndata:\n  index: %q\n", i, fmt.Sprint(i))
	}
	return b.String()
}

// A component of 5,000 objects, from a plain directory, renders every one
// of them, in the order of the files.
func TestRenderFiveThousandObjects(t *testing.T) {
	dir := copyFixture(t)
	write(t, dir, "bulk/namespace.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: dev\n")
	write(t, dir, "bulk/many.yaml", manyConfigMaps(scaleObjects))
	res, err := renderFixture(t, dir, func(o *Options) {
		o.Environment.Spec.Components = append(o.Environment.Spec.Components, config.Component{Name: "bulk", Manifests: &config.Manifests{Path: "bulk"}})
		o.Components = []string{"bulk"}
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Components) != 1 || len(res.Components[0].Objects) != scaleObjects+1 {
		t.Fatalf("rendered %d components, want 1 of %d objects", len(res.Components), scaleObjects+1)
	}
	objs := res.Components[0].Objects
	for i, o := range objs[1:] {
		if want := fmt.Sprintf("cm-%04d", i); o.GetName() != want || o.GetNamespace() != "dev" || o.GetLabels()[ownership.LabelComponent] != "bulk" {
			t.Fatalf("object %d is %s %s/%s labelled %v, want ConfigMap dev/%s of component bulk", i+1, o.GetKind(), o.GetNamespace(), o.GetName(), o.GetLabels(), want)
		}
	}
}

// BenchmarkRenderFiveThousand renders 5,000 ConfigMaps in one component,
// from a plain directory (manifests) and through a kustomization. kustomize
// checks each resource it adds against all those before it, so the second
// grows with the square of the objects.
func BenchmarkRenderFiveThousand(b *testing.B) {
	for _, kind := range []string{"manifests", "kustomize"} {
		b.Run(kind, func(b *testing.B) {
			dir := copyFixture(b)
			many := manyConfigMaps(scaleObjects)
			write(b, dir, "overlays/dev/many.yaml", many)
			write(b, dir, "overlays/dev/kustomization.yaml", "resources:\n  - namespace.yaml\n  - many.yaml\n")
			write(b, dir, "bulk/namespace.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: dev\n")
			write(b, dir, "bulk/many.yaml", many)
			mutate := func(o *Options) { o.Components = []string{"app"} }
			if kind == "manifests" {
				mutate = func(o *Options) {
					o.Environment.Spec.Components = append(o.Environment.Spec.Components,
						config.Component{Name: "bulk", Manifests: &config.Manifests{Path: "bulk"}})
					o.Components = []string{"bulk"}
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				res, err := renderFixture(b, dir, mutate)
				if err != nil {
					b.Fatal(err)
				}
				if n := len(res.Components[0].Objects); n != scaleObjects+1 {
					b.Fatalf("rendered %d objects, want %d", n, scaleObjects+1)
				}
			}
		})
	}
}
