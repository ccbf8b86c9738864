package cli

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/testenv"
)

// TestDiffOfAppliedRealEnvironment applies the repository's own ci
// environment (CRDs and custom resources, a Helm chart with hooks,
// StatefulSets, HPAs, quotas) and checks that diff then finds nothing to
// change: the plan and the apply agree about every kind the platform uses.
func TestDiffOfAppliedRealEnvironment(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	kc := testenv.Get(t).Kubeconfig(t)
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, string, int) {
		t.Helper()
		var out, errOut bytes.Buffer
		code := Main(append([]string{"--repo", root}, append(args, "--kubeconfig", kc)...), IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
		return out.String(), errOut.String(), code
	}
	if out, errOut, code := run("apply", "ci"); code != ExitOK {
		t.Fatalf("apply ci: exit %d\n%s\n%s", code, out, errOut)
	}
	t.Cleanup(func() {
		if out, errOut, code := run("down", "ci", "--yes"); code != ExitOK {
			t.Errorf("down ci: exit %d\n%s\n%s", code, out, errOut)
		}
	})
	out, errOut, code := run("diff", "ci")
	t.Logf("diff ci: %s", errOut)
	if code != diffExitNoChanges {
		t.Errorf("diff right after apply: exit %d, want %d\n%s\n%s", code, diffExitNoChanges, out, errOut)
	}
	if out, errOut, code := run("status", "ci"); code != ExitOK {
		t.Errorf("status after apply: exit %d\n%s\n%s", code, out, errOut)
	}

	// Without the inventory, nothing can be judged unchanged from the
	// recorded hashes: every object is dry-run and compared with its live
	// state, and still nothing may differ.
	cms := testenv.Get(t).Clientset().CoreV1().ConfigMaps(inventory.Namespace)
	if err := cms.Delete(t.Context(), inventory.ConfigMapName("ci", 0), metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = run("diff", "ci")
	t.Logf("diff ci without inventory: %s", errOut)
	if code != diffExitNoChanges {
		t.Errorf("dry-run diff right after apply: exit %d, want %d\n%s\n%s", code, diffExitNoChanges, out, errOut)
	}
	// Apply again to record the inventory, so that down finds everything.
	if out, errOut, code := run("apply", "ci"); code != ExitOK {
		t.Fatalf("apply ci again: exit %d\n%s\n%s", code, out, errOut)
	}
}
