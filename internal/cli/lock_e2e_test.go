package cli

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/lease"
	"github.com/envctl/envctl/internal/testenv"
	"github.com/envctl/envctl/internal/testhook"
)

// One writer per environment, through real envctl processes: while one
// apply holds the environment's lock (paused before its first write, and
// renewing the lock meanwhile), another apply or a down waits for it,
// saying who holds it since when, and gives up after --lock-timeout with
// exit 5; a waiting apply takes over as soon as the holder ends; the lock
// of a killed process expires.
func TestOneWriterPerEnvironment(t *testing.T) {
	e := newE2E(t, "lock")
	e.overlay(map[string]string{"ns.yaml": nsYAML, "cm.yaml": cmYAML("one")}, "")
	// A short lock, so that a killed holder's expires in seconds; the
	// holder renews it every second, and holds it through the pauses below.
	short := []string{testhook.LeaseDurationEnv + "=3s"}

	holder := e.start(testhook.LiveRead, short, "apply")
	holder.waitPaused(testhook.LiveRead)
	who := fmt.Sprintf("is being written by envctl apply (pid %d on ", holder.cmd.Process.Pid)

	start := time.Now()
	busy := e.start("", short, "apply", "--lock-timeout", "2s")
	if code := busy.wait(time.Minute); code != ExitConflict {
		t.Errorf("a second apply while the lock is held: exit %d, want %d", code, ExitConflict)
	}
	if took := time.Since(start); took < 2*time.Second || took > 20*time.Second {
		t.Errorf("the second apply gave up after %v, want about --lock-timeout 2s", took.Round(time.Millisecond))
	}
	mustContain(t, "the second apply", busy.errOut.String(),
		"Environment lock "+who, "since ", "waiting up to 2s", "Error: environment lock "+who, "raise --lock-timeout")

	down := e.start("", short, "down", "--yes", "--lock-timeout", "0s")
	if code := down.wait(time.Minute); code != ExitConflict {
		t.Errorf("down while the lock is held: exit %d, want %d", code, ExitConflict)
	}
	mustContain(t, "down", down.errOut.String(), "Error: environment lock "+who)

	// A writer that may wait takes over once the holder is done.
	waiter := e.start("", short, "apply", "--lock-timeout", "1m")
	waiter.waitOutput("Environment lock "+who, time.Minute)
	holder.resume(testhook.LiveRead)
	if code := holder.wait(timeoutRun); code != ExitOK {
		t.Fatalf("the holder: exit %d", code)
	}
	released := time.Now()
	if code := waiter.wait(timeoutRun); code != ExitOK {
		t.Fatalf("the waiting apply: exit %d", code)
	}
	if !e.configMapExists("one") {
		t.Error("ConfigMap one is missing after both applies")
	}
	t.Logf("the waiting apply finished %v after the holder", time.Since(released).Round(time.Millisecond))

	// The lock of a killed process expires: the next apply waits for it
	// (about the 3 s lock duration), then runs.
	killed := e.start(testhook.LiveRead, short, "apply")
	killed.waitPaused(testhook.LiveRead)
	dead := fmt.Sprintf("is being written by envctl apply (pid %d on ", killed.cmd.Process.Pid)
	killed.kill()
	start = time.Now()
	next := e.start("", short, "apply", "--lock-timeout", "1m")
	if code := next.wait(timeoutRun); code != ExitOK {
		t.Fatalf("apply after a killed holder: exit %d", code)
	}
	mustContain(t, "the apply after the kill", next.errOut.String(), "Environment lock "+dead)
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("the lock of the killed process took %v to expire, want about 3s", took.Round(time.Millisecond))
	}
	e.mustRun(ExitOK, "down", "--yes")
}

// A run whose lock is taken from it stops with a cluster error (exit 6),
// not the generic exit 1, so that a CI job can tell it from a bug.
func TestLostLockIsAClusterError(t *testing.T) {
	t.Setenv(testhook.LeaseDurationEnv, "2s")
	te := testenv.Get(t)
	client := te.Clientset()
	env := "lostlock-" + strings.ToLower(strconv.FormatInt(time.Now().UnixNano()%1_000_000, 36))
	var errOut strings.Builder
	f := &Factory{Streams: IOStreams{Out: &strings.Builder{}, ErrOut: &errOut}, Global: &GlobalOptions{}, Logger: slog.New(slog.DiscardHandler)}
	runCtx, lock, err := lease.HoldCommand(t.Context(), client, env, "apply", 0, f.Logger, f.Streams.ErrOut)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	leases := client.CoordinationV1().Leases(inventory.Namespace)
	l, err := leases.Get(t.Context(), lease.Name(env), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	thief := "another envctl"
	l.Spec.HolderIdentity = &thief
	if _, err := leases.Update(t.Context(), l, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-runCtx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the run's context did not end within 10 s of its lock being taken")
	}
	cause := context.Cause(runCtx)
	if code := ExitCode(cause); code != ExitCluster {
		t.Errorf("a lost lock (%v) exits %d, want %d", cause, code, ExitCluster)
	}
	if !strings.Contains(errOut.String(), "lost the lock of environment "+env) {
		t.Errorf("stderr does not say the lock was lost:\n%s", errOut.String())
	}
}
