package cli

import (
	"fmt"
	"strings"
	"testing"

	"github.com/envctl/envctl/internal/testhook"
)

// matrixRender is the environment of the fault-injection scenarios at step
// n: a Namespace, a Secret holding the canary, a ConfigMap changed at every
// step, one kept as is, and two added at step n (and removed at the next,
// so that each step has objects to prune).
func matrixRender(canary string, n int) map[string]string {
	secret := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: NS\nstringData:\n  password: " + canary + "\n"
	changing := fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: changing\n  namespace: NS\ndata:\n  step: %q\n", fmt.Sprint(n))
	return map[string]string{
		"ns.yaml":       nsYAML,
		"secret.yaml":   secret,
		"changing.yaml": changing,
		"kept.yaml":     cmYAML("kept"),
		"new-a.yaml":    cmYAML(fmt.Sprintf("step-%d-a", n)),
		"new-b.yaml":    cmYAML(fmt.Sprintf("step-%d-b", n)),
	}
}

// envctl killed (SIGKILL) at each phase of a run, then run again: the four
// invariants hold after each.
func TestMatrixKilledAtEachPhase(t *testing.T) {
	canary := newCanary(t)
	e := newE2E(t, "killed")
	iv := newInvariants(t, e, canary)
	iv.watch(e.ns + "-by")
	e.overlay(matrixRender(canary, 0), "")
	if p := e.start("", nil, "apply"); p.wait(timeoutRun) != ExitOK {
		t.Fatal("the first apply failed")
	}
	iv.watch(e.ns) // a neighbour in the environment's own namespace

	// Small shards, so that the inventory is stored in several and a save
	// can be cut between them.
	// A short lock: a killed process never releases its own, and the
	// converging run waits for it to expire.
	shards := []string{testhook.ShardSizeEnv + "=300", testhook.LeaseDurationEnv + "=2s"}
	for i, phase := range []string{
		testhook.Render,
		testhook.Apply,
		testhook.Health,
		testhook.Prune,
		// The second save: the first records the new objects before any
		// is applied.
		testhook.InventorySave + "#2",
	} {
		t.Run(strings.Split(phase, "#")[0], func(t *testing.T) {
			step := i + 1
			e.overlay(matrixRender(canary, step), "")
			p := e.start(phase, shards, "apply", "-v")
			p.waitPaused(phase)
			p.kill()
			iv.check("killed at " + phase)
			iv.converge("after a kill at "+phase, "apply")
			for _, name := range []string{fmt.Sprintf("step-%d-a", step), "kept", "changing"} {
				if !e.configMapExists(name) {
					t.Errorf("after converging, %s is missing", name)
				}
			}
			if e.configMapExists(fmt.Sprintf("step-%d-a", step-1)) {
				t.Errorf("after converging, step-%d-a (no longer declared) is still there", step-1)
			}
		})
	}
}
