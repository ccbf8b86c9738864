package ownership_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLeanLeaves keeps the shared vocabulary and the packages a daemon's
// lock, record and inventory need free of the renderer: holding a Lease
// or reading an inventory must not link Helm or kustomize, and the client
// layer must not import the inventory.
func TestLeanLeaves(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	const mod = "github.com/envctl/envctl/internal/"
	for _, tt := range []struct {
		pkg    string
		banned []string
	}{
		{"object", []string{"helm.sh/", "sigs.k8s.io/kustomize/", mod}},
		{"ownership", []string{"helm.sh/", "sigs.k8s.io/kustomize/", mod}},
		{"lease", []string{"helm.sh/", "sigs.k8s.io/kustomize/", mod + "render"}},
		{"inventory", []string{"helm.sh/", "sigs.k8s.io/kustomize/", mod + "render"}},
		{"syncstate", []string{"helm.sh/", "sigs.k8s.io/kustomize/", mod + "render"}},
		{"kube", []string{"helm.sh/", "sigs.k8s.io/kustomize/", mod + "inventory", mod + "render"}},
	} {
		out, err := exec.Command("go", "list", "-deps", "../"+tt.pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", tt.pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			if dep == mod+tt.pkg {
				continue
			}
			for _, b := range tt.banned {
				if strings.HasPrefix(dep, b) {
					t.Errorf("internal/%s depends on %s", tt.pkg, dep)
				}
			}
		}
	}
}
