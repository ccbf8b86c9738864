package kubeconfig

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// kubectl's lock is "<file>.lock" created exclusively (client-go's
// lockFile), with nothing in it: while it exists Merge waits, and it
// writes once kubectl removes it.
func TestMergeWaitsForKubectlLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	writeFile(t, path, userFile, 0o600)
	lock := path + ".lock"
	f, err := os.OpenFile(lock, os.O_CREATE|os.O_EXCL, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	done := make(chan error, 1)
	go func() {
		_, err := Merge(context.Background(), WriteOptions{Path: path}, "ml", clusterKubeconfig("ml", "https://127.0.0.1:1"))
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("Merge did not wait for kubectl's lock: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	if _, ok := load(t, path).Contexts["envctl-ml"]; ok {
		t.Fatal("context written while kubectl held the lock")
	}
	if err := os.Remove(lock); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, ok := load(t, path).Contexts["envctl-ml"]; !ok {
		t.Error("context not written once the lock was gone")
	}
	assertNoLockLeft(t, path)
}

// A lock that stays is reported, naming the file to remove, when the
// caller's deadline passes.
func TestMergeLockTimeout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	writeFile(t, path+".lock", "", 0o600)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := Merge(ctx, WriteOptions{Path: path}, "ml", clusterKubeconfig("ml", "https://127.0.0.1:1"))
	if err == nil || !strings.Contains(err.Error(), path+".lock exists") {
		t.Fatalf("err = %v, want one naming %s.lock", err, path)
	}
	if _, err := os.Stat(path + ".lock"); err != nil {
		t.Errorf("a live lock was removed: %v", err)
	}
}

// A lock a live process holds past any write's length is reported without
// waiting for the caller's (long) deadline.
func TestMergeLockHeldTooLong(t *testing.T) {
	defer func(d time.Duration) { maxLockWait = d }(maxLockWait)
	maxLockWait = 200 * time.Millisecond
	path := filepath.Join(t.TempDir(), "config")
	writeFile(t, path+".lock", strconv.Itoa(os.Getpid()), 0o600)
	_, err := Merge(context.Background(), WriteOptions{Path: path}, "ml", clusterKubeconfig("ml", "https://127.0.0.1:1"))
	if err == nil || !strings.Contains(err.Error(), path+".lock exists") || !strings.Contains(err.Error(), "held for 200ms") {
		t.Fatalf("err = %v, want one naming %s.lock and how long it was held", err, path)
	}
}

// The lock of an envctl that was killed names a process that is gone: the
// next writer removes it rather than wait forever.
func TestMergeRemovesLockOfDeadProcess(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip("no true(1):", err)
	}
	mergeOverLockOf(t, cmd.Process.Pid)
}

// The lock of an envctl killed and not yet reaped (a zombie, whose pid
// still exists) is left behind too.
func TestMergeRemovesLockOfZombie(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Skip("no true(1):", err)
	}
	defer cmd.Wait()
	for deadline := time.Now().Add(5 * time.Second); !exited(cmd.Process.Pid); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("true(1) did not exit")
		}
	}
	mergeOverLockOf(t, cmd.Process.Pid)
}

// mergeOverLockOf merges with a lock file naming pid in the way, which
// Merge must take for stale: it writes within seconds and leaves no lock.
func mergeOverLockOf(t *testing.T, pid int) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config")
	writeFile(t, path+".lock", strconv.Itoa(pid), 0o600)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := Merge(ctx, WriteOptions{Path: path}, "ml", clusterKubeconfig("ml", "https://127.0.0.1:1")); err != nil {
		t.Fatal(err)
	}
	assertNoLockLeft(t, path)
}

// A kind cluster's context written by an earlier envctl as envctl-NAME is
// renamed to kind's kind-NAME, current-context following it; an
// envctl-NAME of another server is left alone.
func TestMergeRenamesReplacedContext(t *testing.T) {
	for _, tc := range []struct {
		name, server, wantRenamed string
	}{
		{"same server", "https://127.0.0.1:7", "envctl-ml"},
		{"other server", "https://127.0.0.1:8", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config")
			ctx := context.Background()
			if _, err := Merge(ctx, WriteOptions{Path: path, Current: CurrentAlways}, "ml", clusterKubeconfig("ml", tc.server)); err != nil {
				t.Fatal(err)
			}
			w, err := Merge(ctx, WriteOptions{Path: path, Context: "kind-ml", Replaces: []string{"envctl-ml"}}, "ml", clusterKubeconfig("ml", "https://127.0.0.1:7"))
			if err != nil {
				t.Fatal(err)
			}
			cfg := load(t, path)
			_, kept := cfg.Contexts["envctl-ml"]
			if w.Renamed != tc.wantRenamed || kept != (tc.wantRenamed == "") {
				t.Errorf("Renamed = %q, envctl-ml kept %v; want %q", w.Renamed, kept, tc.wantRenamed)
			}
			if _, ok := cfg.Contexts["kind-ml"]; !ok {
				t.Error("no kind-ml context")
			}
			wantCurrent := "envctl-ml"
			if tc.wantRenamed != "" {
				wantCurrent = "kind-ml"
			}
			if cfg.CurrentContext != wantCurrent {
				t.Errorf("current-context = %q, want %q", cfg.CurrentContext, wantCurrent)
			}
		})
	}
}
