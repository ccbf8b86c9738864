package cli

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/testenv"
)

// deleteInventory deletes the environment's inventory ConfigMaps, as losing
// them would.
func (e *e2e) deleteInventory() {
	e.t.Helper()
	err := testenv.Get(e.t).Clientset().CoreV1().ConfigMaps(inventory.Namespace).DeleteCollection(e.t.Context(), metav1.DeleteOptions{},
		metav1.ListOptions{LabelSelector: inventory.LabelInventory + "=" + e.env})
	if err != nil {
		e.t.Fatal(err)
	}
}

// A lost inventory is rebuilt from the labels of the environment's
// objects: prune and down then work as if it had never been lost.
func TestLostInventoryIsRebuilt(t *testing.T) {
	e := newE2E(t, "lost")
	e.overlay(map[string]string{"ns.yaml": nsYAML, "a1.yaml": cmYAML("a1"), "a2.yaml": cmYAML("a2"), "a3.yaml": cmYAML("a3"), "a4.yaml": cmYAML("a4")}, "")
	e.mustRun(ExitOK, "apply")
	e.deleteInventory()

	e.overlay(map[string]string{"ns.yaml": nsYAML, "a1.yaml": cmYAML("a1"), "a2.yaml": cmYAML("a2"), "a3.yaml": cmYAML("a3")}, "")
	stdout, stderr := e.mustRun(ExitOK, "apply")
	mustContain(t, "the apply", stdout+stderr, "inventory", "rebuilt", "5 objects")
	if e.configMapExists("a4") {
		t.Error("with the inventory lost, the removed object was not pruned")
	}
	if inv, err := e.storedInventory(); err != nil || len(inv.Entries) != 4 {
		t.Errorf("stored inventory after the rebuild: %v", err)
	}

	e.deleteInventory()
	_, stderr = e.mustRun(ExitOK, "down", "--yes")
	mustContain(t, "down", stderr, "rebuilt")
	if got := ourObjects(t, e.env); len(got) != 0 {
		t.Errorf("down with a lost inventory left: %v", got)
	}
}

// A damaged inventory stops the run (exit 2) with the command that repairs
// it; nothing is applied or pruned until it is repaired.
func TestDamagedInventoryStopsTheRun(t *testing.T) {
	e := newE2E(t, "damaged")
	e.overlay(map[string]string{"ns.yaml": nsYAML, "a1.yaml": cmYAML("a1"), "a2.yaml": cmYAML("a2"), "a3.yaml": cmYAML("a3")}, "")
	e.mustRun(ExitOK, "apply")

	cms := testenv.Get(t).Clientset().CoreV1().ConfigMaps(inventory.Namespace)
	cm, err := cms.Get(t.Context(), inventory.ConfigMapName(e.env, 0), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range cm.BinaryData {
		v[len(v)/2] ^= 0xff
		cm.BinaryData[k] = v
	}
	if _, err := cms.Update(t.Context(), cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	e.overlay(map[string]string{"ns.yaml": nsYAML, "a1.yaml": cmYAML("a1"), "a2.yaml": cmYAML("a2"), "a4.yaml": cmYAML("a4")}, "")
	for _, cmd := range []string{"apply", "diff", "status"} {
		_, stderr, code := e.run(cmd)
		if code != ExitInput {
			t.Errorf("%s of a damaged inventory: exit %d, want %d", cmd, code, ExitInput)
		}
		mustContain(t, cmd, stderr, "envctl inventory rebuild "+e.env)
	}
	if !e.configMapExists("a3") || e.configMapExists("a4") {
		t.Fatal("a run against a damaged inventory applied or pruned")
	}

	stdout, _ := e.mustRun(ExitOK, "inventory", "rebuild", "--kubeconfig", e.kubeconfig)
	mustContain(t, "inventory rebuild", stdout, "4 objects")
	e.mustRun(ExitOK, "apply")
	if e.configMapExists("a3") || !e.configMapExists("a4") {
		t.Error("after the repair the apply did not converge")
	}
}

// With --no-wait, prune runs once every apply succeeded and says that
// health was not checked.
func TestNoWaitPruneSaysHealthNotChecked(t *testing.T) {
	e := newE2E(t, "nowait")
	e.overlay(map[string]string{"ns.yaml": nsYAML, "a1.yaml": cmYAML("a1"), "a2.yaml": cmYAML("a2"), "a3.yaml": cmYAML("a3")}, "")
	e.mustRun(ExitOK, "apply")
	e.overlay(map[string]string{"ns.yaml": nsYAML, "a1.yaml": cmYAML("a1"), "a2.yaml": cmYAML("a2")}, "")
	stdout, stderr := e.mustRun(ExitOK, "apply", "--no-wait")
	if e.configMapExists("a3") {
		t.Error("--no-wait: the removed object was not pruned")
	}
	if !strings.Contains(stdout, "health was not checked") || !strings.Contains(stderr, "health was not checked") {
		t.Errorf("--no-wait prune does not say health was not checked:\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
	}
	// A failed apply under --no-wait prunes nothing.
	bad := strings.Replace(serviceYAML, "  ports:", "  type: NoSuchType\n  ports:", 1)
	e.overlay(map[string]string{"ns.yaml": nsYAML, "a1.yaml": cmYAML("a1"), "bad.yaml": bad}, "")
	if _, _, code := e.run("apply", "--no-wait"); code == ExitOK {
		t.Error("an invalid object applied")
	}
	if !e.configMapExists("a2") {
		t.Error("--no-wait pruned after a failed apply")
	}
}
