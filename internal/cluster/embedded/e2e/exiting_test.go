package e2e_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// exitingLeaderEnv makes the test binary a process whose main thread has
// exited while its other threads run on: a zombie leader that is not yet
// gone, as a SIGKILLed serve process is while the kernel tears down its
// last threads, held in that state until it is killed.
const exitingLeaderEnv = "ENVCTL_TEST_EXITING_LEADER"

func init() {
	if os.Getenv(exitingLeaderEnv) == "1" {
		// Keeps the main goroutine on the main thread, which
		// exitingLeader ends.
		runtime.LockOSThread()
	}
}

// exitingLeader ends the main thread alone and leaves the others running.
func exitingLeader() {
	// A collection would wait forever for the main thread's goroutine.
	debug.SetGCPercent(-1)
	syscall.RawSyscall(syscall.SYS_EXIT, 0, 0, 0)
}

// A create that finds its serve process killed but not yet gone waits
// until it is gone (for a bounded time, saying so) and then restarts the
// cluster; one whose serve process dies while it waits for its API server
// restarts it too. Neither says "already running" and then waits for a
// server that is not there.
func TestCreateAfterServeProcessKilled(t *testing.T) {
	s := newSandbox(t)
	s.mustRun("cluster", "create", "lazarus", "--provider", "embedded")
	pidPath := filepath.Join(s.clusterDir("lazarus"), "serve.pid")
	if err := kill(s.pid("lazarus")); err != nil {
		t.Fatal(err)
	}

	// Killed, its last threads not yet gone: for as long as it takes.
	leader := exec.Command(os.Args[0])
	leader.Env = append(os.Environ(), exitingLeaderEnv+"=1", "GOGC=off")
	if err := leader.Start(); err != nil {
		t.Fatal(err)
	}
	reaped := false
	t.Cleanup(func() {
		if !reaped {
			_ = leader.Process.Kill()
			_ = leader.Wait()
		}
	})
	waitState(t, leader.Process.Pid, "Z")
	writePIDFile(t, pidPath, leader.Process.Pid)

	r := s.run("cluster", "create", "lazarus", "--provider", "embedded")
	if r.code != 6 {
		t.Fatalf("create while the serve process never finishes exiting: want exit 6 (cluster):\n%v", r)
	}
	for _, want := range []string{
		fmt.Sprintf("Waiting for the exiting serve process %d of embedded cluster lazarus to be gone", leader.Process.Pid),
		fmt.Sprintf("serve process %d has exited but still holds the cluster's files: it was still exiting after 10s", leader.Process.Pid),
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("create does not say %q:\n%v", want, r)
		}
	}
	if strings.Contains(r.stderr, "already running") {
		t.Errorf("create calls a killed serve process running:\n%v", r)
	}

	bg := s.start("cluster", "create", "lazarus", "--provider", "embedded")
	bg.waitOutput(t, "Waiting for the exiting serve process")
	_ = leader.Process.Kill()
	_ = leader.Wait()
	reaped = true
	r = bg.wait(t)
	want := fmt.Sprintf("Restarting embedded control plane lazarus from its state (its serve process %d is gone)", leader.Process.Pid)
	if r.code != 0 || !strings.Contains(r.stderr, want) {
		t.Fatalf("create once the killed serve process is gone: want exit 0 and %q:\n%v", want, r)
	}

	// The serve process dies while create waits for its API server: here
	// a process of another program the pid file names as if it were the
	// serve process, and a server that does not answer.
	if err := kill(s.pid("lazarus")); err != nil {
		t.Fatal(err)
	}
	impostor := startOther(t)
	writePIDFile(t, pidPath, impostor.Process.Pid)
	bg = s.start("cluster", "create", "lazarus", "--provider", "embedded")
	bg.waitOutput(t, fmt.Sprintf("Embedded cluster lazarus is already running (serve process %d)", impostor.Process.Pid))
	_ = impostor.Process.Kill()
	_ = impostor.Wait()
	r = bg.wait(t)
	want = fmt.Sprintf("Restarting embedded control plane lazarus from its state (its serve process %d is gone)", impostor.Process.Pid)
	if r.code != 0 || !strings.Contains(r.stderr, want) {
		t.Fatalf("create whose serve process died while it waited: want exit 0 and %q:\n%v", want, r)
	}
	if !strings.Contains(r.stderr, fmt.Sprintf("Serve process %d of embedded cluster lazarus stopped while envctl waited for its API server", impostor.Process.Pid)) {
		t.Errorf("create does not say the serve process stopped while it waited:\n%v", r)
	}
	c, _ := s.client("lazarus")
	if _, err := c.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{}); err != nil {
		t.Errorf("the restarted cluster does not answer: %v", err)
	}
	s.mustRun("cluster", "delete", "lazarus")
}

// waitState waits until process pid is in state (field 3 of its stat).
func waitState(t *testing.T, pid int, state string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
		if err != nil {
			t.Fatal(err)
		}
		if f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:])); f[0] == state {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d not in state %s after 10s: %s", pid, state, stat)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// writePIDFile makes a cluster's pid file name pid as its serve process,
// with pid's start time, as a serve process writes it.
func writePIDFile(t *testing.T, path string, pid int) {
	t.Helper()
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		t.Fatal(err)
	}
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		t.Fatal(err)
	}
	// The start time is field 22 of stat.
	start := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))[19]
	data := fmt.Sprintf("%d %s:%s\n", pid, strings.TrimSpace(string(boot)), start)
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// background is an envctl command running while the test goes on.
type background struct {
	args   []string
	cmd    *exec.Cmd
	cancel context.CancelFunc
	out    bytes.Buffer
	errOut syncBuffer
	done   chan struct{}
	code   int
}

// start starts envctl args in the background, bounded by commandTimeout.
func (s *sandbox) start(args ...string) *background {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	b := &background{args: args, cmd: s.command(ctx, args...), cancel: cancel, done: make(chan struct{})}
	b.cmd.Stdout, b.cmd.Stderr = &b.out, &b.errOut
	if err := b.cmd.Start(); err != nil {
		cancel()
		s.t.Fatal(err)
	}
	go func() {
		defer close(b.done)
		_ = b.cmd.Wait()
		b.code = b.cmd.ProcessState.ExitCode()
	}()
	s.t.Cleanup(func() {
		cancel()
		<-b.done
	})
	return b
}

// waitOutput waits until the command's stderr holds want.
func (b *background) waitOutput(t *testing.T, want string) {
	t.Helper()
	deadline := time.After(time.Minute)
	for !strings.Contains(b.errOut.String(), want) {
		select {
		case <-b.done:
			t.Fatalf("envctl %s exited (%d) before it said %q:\n%s", strings.Join(b.args, " "), b.code, want, b.errOut.String())
		case <-deadline:
			t.Fatalf("envctl %s did not say %q within a minute:\n%s", strings.Join(b.args, " "), want, b.errOut.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// wait waits for the command to exit and returns what it did.
func (b *background) wait(t *testing.T) result {
	t.Helper()
	<-b.done
	b.cancel()
	return result{args: b.args, code: b.code, stdout: b.out.String(), stderr: b.errOut.String()}
}

// syncBuffer is a buffer a process writes while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
