package cli

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/envctl/envctl/internal/testhook"
)

// Ctrl-C (SIGINT) or SIGTERM during an apply: no new write starts, the
// requests in flight finish, what was applied is recorded, nothing is
// pruned, and the exit code is 130 or 143.
func TestInterruptStopsCleanly(t *testing.T) {
	canary := newCanary(t)
	e := newE2E(t, "interrupt")
	iv := newInvariants(t, e, canary)
	iv.watch(e.ns + "-by")
	e.overlay(matrixRender(canary, 0), "")
	if p := e.start("", nil, "apply"); p.wait(timeoutRun) != ExitOK {
		t.Fatal("the first apply failed")
	}
	for i, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		name := map[syscall.Signal]string{syscall.SIGINT: "SIGINT", syscall.SIGTERM: "SIGTERM"}[sig]
		t.Run(name, func(t *testing.T) {
			step := i + 1
			e.overlay(matrixRender(canary, step), "")
			p := e.start(testhook.Apply, nil, "apply")
			p.waitPaused(testhook.Apply)
			p.signal(sig)
			// The pause ends with the run's context; the run winds down.
			if code := p.wait(time.Minute); code != 128+int(sig) {
				t.Errorf("exit %d after %s, want %d", code, name, 128+int(sig))
			}
			mustContain(t, "the interrupted run", p.errOut.String(), name+": stopping", "nothing is pruned", "Interrupted by "+name)
			for _, suffix := range []string{"a", "b"} {
				if old := fmt.Sprintf("step-%d-%s", step-1, suffix); !e.configMapExists(old) {
					t.Errorf("%s was pruned by an interrupted run", old)
				}
			}
			inv, err := e.storedInventory()
			if err != nil {
				t.Fatal(err)
			}
			recorded := false
			for _, en := range inv.Entries {
				recorded = recorded || strings.HasPrefix(en.Name, fmt.Sprintf("step-%d-", step))
			}
			if !recorded {
				t.Errorf("the objects of the interrupted run are not recorded: %v", inv.Entries)
			}
			iv.check("interrupted by " + name)
			iv.converge("after "+name, "apply")
		})
	}
}

// A second Ctrl-C exits at once, even while the first one waits for
// something to finish.
func TestSecondInterruptExitsAtOnce(t *testing.T) {
	canary := newCanary(t)
	e := newE2E(t, "twice")
	iv := newInvariants(t, e, canary)
	e.overlay(matrixRender(canary, 0), "")
	if p := e.start("", nil, "apply"); p.wait(timeoutRun) != ExitOK {
		t.Fatal("the first apply failed")
	}
	e.overlay(matrixRender(canary, 1), "")
	// The last inventory save does not end with the run's context (what was
	// applied must be recorded), so the first Ctrl-C leaves it paused.
	phase := testhook.InventorySave + "#2"
	// The process exits without releasing the environment's lock: a short
	// one expires before the converging runs below, instead of after 15 s.
	p := e.start(phase, []string{testhook.LeaseDurationEnv + "=2s"}, "apply")
	p.waitPaused(phase)
	p.signal(syscall.SIGINT)
	select {
	case <-p.done:
		t.Fatal("the first SIGINT ended a run that was saving its inventory")
	case <-time.After(300 * time.Millisecond):
	}
	start := time.Now()
	p.signal(syscall.SIGINT)
	if code := p.wait(5 * time.Second); code != 130 {
		t.Errorf("exit %d after a second SIGINT, want 130", code)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("the second SIGINT took %v to end the process", took)
	}
	mustContain(t, "the run", p.errOut.String(), "SIGINT again: exiting at once")
	iv.check("two SIGINTs")
	iv.converge("after two SIGINTs", "apply")
}
