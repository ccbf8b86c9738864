package render

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// scaleObjects is how many objects TestRenderFiveThousandObjects renders.
var scaleObjects = 5000

// A render of 5,000 objects in one component is quick.
func TestRenderFiveThousandObjects(t *testing.T) {
	if testing.Short() || os.Getenv("ENVCTL_SCALE_TESTS") != "1" {
		// kustomize appends resources with a linear duplicate check, so a
		// render of 5,000 objects in one kustomization takes 30-45 s here:
		// too long for every `make test`, and it fails the bound below.
		t.Skip("renders 5,000 objects; set ENVCTL_SCALE_TESTS=1")
	}
	dir := copyFixture(t)
	var b strings.Builder
	for i := range scaleObjects {
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%04d\n  namespace: dev\ndata:\n  index: %q\n", i, fmt.Sprint(i))
	}
	write(t, dir, "overlays/dev/many.yaml", b.String())
	write(t, dir, "overlays/dev/kustomization.yaml", "resources:\n  - namespace.yaml\n  - many.yaml\n")
	start := time.Now()
	res, err := renderFixture(t, dir, func(o *Options) { o.Components = []string{"app"} })
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range res.Components {
		n += len(c.Objects)
	}
	if n != scaleObjects+1 {
		t.Errorf("rendered %d objects, want 5,001", n)
	}
	t.Logf("5,000 objects rendered in %v", took.Round(time.Millisecond))
	if took > 15*time.Second {
		t.Errorf("a render of 5,000 objects took %v, want seconds", took)
	}
}
