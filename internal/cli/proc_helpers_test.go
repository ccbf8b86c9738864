package cli

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/envctl/envctl/internal/testhook"
)

// timeoutRun bounds one envctl run of a test.
const timeoutRun = 3 * time.Minute

// proc is envctl run as a process of its own (the test binary acting as
// envctl), for what cannot be tested in the test's process: signals,
// SIGKILL at a phase, memory.
type proc struct {
	t      *testing.T
	e      *e2e
	args   []string
	cmd    *exec.Cmd
	out    bytes.Buffer
	errOut lockedBuffer
	dir    string // the pause files
	done   chan struct{}
	code   int
	usage  *syscall.Rusage
	logged bool
}

// processEnv is the environment of e's envctl processes: this one's,
// without envctl's settings, with a home (and so a kubeconfig and a state
// directory) of e's own, the same for every process of e.
func (e *e2e) processEnv() []string {
	if e.home == "" {
		e.home = e.t.TempDir()
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "ENVCTL_") || k == "HOME" || k == "KUBECONFIG" || k == "XDG_STATE_HOME" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, asCLIEnv+"=1", "HOME="+e.home, "KUBECONFIG="+filepath.Join(e.home, ".kube", "config"),
		"XDG_STATE_HOME="+filepath.Join(e.home, ".local", "state"))
}

// start starts envctl e.args(args). pause, when set, is the phase
// (testhook) to pause at; extra are more environment variables.
func (e *e2e) start(pause string, extra []string, args ...string) *proc {
	e.t.Helper()
	full := e.args(args)
	p := &proc{t: e.t, e: e, args: args, dir: e.t.TempDir(), done: make(chan struct{})}
	env := append(e.processEnv(), extra...)
	if pause != "" {
		env = append(env, testhook.PauseEnv+"="+pause, testhook.DirEnv+"="+p.dir)
	}
	p.cmd = exec.Command(os.Args[0], full...)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.errOut
	if err := p.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		err := p.cmd.Wait()
		var exit *exec.ExitError
		switch {
		case errors.As(err, &exit):
			p.code = exit.ExitCode()
			if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				p.code = 128 + int(ws.Signal())
			}
		case err != nil:
			p.code = -1
		}
		if ru, ok := p.cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			p.usage = ru
		}
	}()
	e.t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// waitPaused waits until the process pauses at phase (the name without
// its "#N"), failing the test if it exits first or takes over a minute.
func (p *proc) waitPaused(phase string) {
	p.t.Helper()
	phase, _, _ = strings.Cut(phase, "#")
	deadline := time.After(time.Minute)
	for {
		if _, err := os.Stat(filepath.Join(p.dir, phase+".paused")); err == nil {
			return
		}
		select {
		case <-p.done:
			p.record()
			p.t.Fatalf("envctl %s exited (%d) before it reached phase %s\nstdout:\n%s\nstderr:\n%s", strings.Join(p.args, " "), p.code, phase, p.out.String(), p.errOut.String())
		case <-deadline:
			p.t.Fatalf("envctl %s did not reach phase %s within a minute\nstderr:\n%s", strings.Join(p.args, " "), phase, p.errOut.String())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// resume lets a process paused at phase go on.
func (p *proc) resume(phase string) {
	p.t.Helper()
	phase, _, _ = strings.Cut(phase, "#")
	if err := os.WriteFile(filepath.Join(p.dir, phase+".resume"), nil, 0o600); err != nil {
		p.t.Fatal(err)
	}
}

// signal sends sig to the process.
func (p *proc) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
}

// wait waits for the process to exit (at most timeout) and returns its
// exit code (128+N when killed by signal N).
func (p *proc) wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		p.t.Fatalf("envctl %s did not exit within %v\nstderr:\n%s", strings.Join(p.args, " "), timeout, p.errOut.String())
	}
	p.record()
	return p.code
}

// kill kills the process with SIGKILL, as a crash or the OOM killer would.
func (p *proc) kill() {
	p.t.Helper()
	p.signal(syscall.SIGKILL)
	if code := p.wait(30 * time.Second); code != 128+int(syscall.SIGKILL) {
		p.t.Fatalf("envctl after SIGKILL: exit %d", code)
	}
}

// record appends the process's output to the test's transcript, once.
func (p *proc) record() {
	if p.logged {
		return
	}
	p.logged = true
	fmt.Fprintf(&p.e.transcript, "$ envctl %s (process, exit %d)\n%s%s", strings.Join(p.args, " "), p.code, p.out.String(), p.errOut.String())
	p.t.Logf("envctl %s (process): exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(p.args, " "), p.code, p.out.String(), p.errOut.String())
}

// maxRSS is the process's peak resident memory in bytes, once it exited.
func (p *proc) maxRSS() int64 {
	if p.usage == nil {
		return 0
	}
	return p.usage.Maxrss * 1024
}

// lockedBuffer is a process's stderr, which a test may read while the
// process still writes it (to see that it waits for a lock).
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitOutput waits until the process's stderr holds want, failing the test
// if it exits first or takes longer than timeout.
func (p *proc) waitOutput(want string, timeout time.Duration) {
	p.t.Helper()
	deadline := time.After(timeout)
	for !strings.Contains(p.errOut.String(), want) {
		select {
		case <-p.done:
			p.record()
			p.t.Fatalf("envctl %s exited (%d) before it printed %q\nstderr:\n%s", strings.Join(p.args, " "), p.code, want, p.errOut.String())
		case <-deadline:
			p.t.Fatalf("envctl %s did not print %q within %v\nstderr:\n%s", strings.Join(p.args, " "), want, timeout, p.errOut.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
}
