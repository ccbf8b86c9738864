package embedded

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc identifies a process across pid reuse: its pid and a token of when
// it started (the boot and the start time in clock ticks since boot, from
// /proc). A pid file whose pid now belongs to another program, or to
// nothing, has a token that no longer matches.
type proc struct {
	PID   int
	Token string
}

func (p proc) String() string { return strconv.Itoa(p.PID) }

// procRoot is where the proc filesystem is mounted; tests point it at a
// fake one.
var procRoot = "/proc"

// selfProc identifies the calling process.
func selfProc() (proc, error) {
	pid := os.Getpid()
	token, err := startToken(pid)
	if err != nil {
		return proc{}, err
	}
	return proc{PID: pid, Token: token}, nil
}

// startToken returns "BOOTID:STARTTIME" for pid. Without a proc filesystem
// (not Linux) it returns "", and identity falls back to the pid alone.
func startToken(pid int) (string, error) {
	if _, err := os.Stat(filepath.Join(procRoot, "self", "stat")); err != nil {
		return "", nil
	}
	fields, err := statFields(pid)
	if err != nil {
		return "", err
	}
	boot, err := os.ReadFile(filepath.Join(procRoot, "sys", "kernel", "random", "boot_id"))
	if err != nil {
		return "", fmt.Errorf("read boot id: %w", err)
	}
	// fields[0] is the state (field 3 of stat); starttime is field 22.
	return strings.TrimSpace(string(boot)) + ":" + fields[19], nil
}

// statFields returns the fields of /proc/PID/stat after the command name,
// which is in parentheses and may itself hold spaces and parentheses.
func statFields(pid int) ([]string, error) {
	data, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "stat"))
	if err != nil {
		return nil, err
	}
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return nil, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	fields := strings.Fields(string(data[i+1:]))
	if len(fields) < 20 {
		return nil, fmt.Errorf("/proc/%d/stat: %d fields after the command name, want at least 20", pid, len(fields))
	}
	return fields, nil
}

// procStatus is where a process is in its life, as far as a serve process
// of envctl's is concerned.
type procStatus int

const (
	// procGone: no such process, a reused pid, or a zombie with no thread
	// left; nothing of it holds the cluster's files or port.
	procGone procStatus = iota
	// procExiting: killed, or exited, and its main thread is a zombie, but
	// other threads are still being torn down and hold its files, its
	// listening sockets and locks included. It serves nothing any more.
	procExiting
	// procRunning: the process runs.
	procRunning
)

// status reports where p is: running, exiting, or gone. A process counts
// as p only while its start time matches p's token.
func (p proc) status() procStatus {
	if p.PID <= 0 {
		return procGone
	}
	if p.Token == "" {
		if err := syscall.Kill(p.PID, 0); err == nil || errors.Is(err, syscall.EPERM) {
			return procRunning
		}
		return procGone
	}
	fields, err := statFields(p.PID)
	if err != nil {
		return procGone
	}
	if token, err := startToken(p.PID); err != nil || token != p.Token {
		return procGone
	}
	if fields[0] != "Z" && fields[0] != "X" {
		return procRunning
	}
	// num_threads, field 20: a zombie leader whose other threads are still
	// exiting has not let go of its files yet.
	if threads, err := strconv.Atoi(fields[17]); err == nil && threads > 1 {
		return procExiting
	}
	return procGone
}

// alive reports whether p still holds what it held: it runs, or it is
// exiting. Waits for a process to be gone use it.
func (p proc) alive() bool { return p.status() != procGone }

// running reports whether p runs and has not begun to exit: whether it
// may still serve.
func (p proc) running() bool { return p.status() == procRunning }

// readPID reads a pid file: "PID TOKEN\n". A missing file gives
// fs.ErrNotExist; a malformed one an error naming it.
func readPID(path string) (proc, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return proc{}, err
	}
	f := strings.Fields(string(data))
	if len(f) < 1 || len(f) > 2 {
		return proc{}, fmt.Errorf("pid file %s: want \"PID TOKEN\", have %q", path, truncate(string(data), 60))
	}
	pid, err := strconv.Atoi(f[0])
	if err != nil || pid <= 0 {
		return proc{}, fmt.Errorf("pid file %s: %q is not a process id", path, truncate(f[0], 30))
	}
	p := proc{PID: pid}
	if len(f) == 2 {
		p.Token = f[1]
	}
	return p, nil
}

// writePID writes p to a pid file, atomically.
func writePID(path string, p proc) error {
	return writeFile(path, []byte(fmt.Sprintf("%d %s\n", p.PID, p.Token)))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// terminate stops p: SIGTERM, then SIGKILL when p has not exited after
// grace (or ctx ended), and waits until it is gone.
func terminate(ctx context.Context, p proc, grace time.Duration) error {
	if !p.alive() {
		return nil
	}
	if err := syscall.Kill(p.PID, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stop process %d: %w", p.PID, err)
	}
	gctx, cancel := context.WithTimeout(ctx, grace)
	defer cancel()
	if waitGone(gctx, p) {
		return nil
	}
	if err := syscall.Kill(p.PID, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill process %d: %w", p.PID, err)
	}
	// A killed process is gone as soon as the kernel has torn it down,
	// unless its parent does not reap it; bound the wait either way.
	kctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if !waitGone(kctx, p) {
		return fmt.Errorf("process %d is still there after SIGKILL", p.PID)
	}
	return nil
}

// waitGone polls until p has exited or ctx ends, and reports which.
func waitGone(ctx context.Context, p proc) bool {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for p.alive() {
		select {
		case <-ctx.Done():
			return !p.alive()
		case <-tick.C:
		}
	}
	return true
}

// serveArgs are the arguments of the serve process for cluster name under
// the state root, after the executable. findServers recognises them.
func serveArgs(root, name string) []string {
	return []string{"cluster", "serve", name, "--state-dir", root}
}

// findServers returns the serve processes of cluster name under root that
// are running, found by their command line. It is how Delete finds a
// serve process whose pid file is missing or damaged, so that deleting
// the state from under it does not leave it running forever.
func findServers(root, name string) []proc {
	entries, err := os.ReadDir(procRoot)
	if err != nil {
		return nil
	}
	want := serveArgs(root, name)
	self := os.Getpid()
	var found []proc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		data, err := os.ReadFile(filepath.Join(procRoot, e.Name(), "cmdline"))
		if err != nil || len(data) == 0 {
			continue
		}
		args := strings.Split(strings.TrimSuffix(string(data), "\x00"), "\x00")
		if len(args) < 1+len(want) || !slices.Equal(args[1:1+len(want)], want) {
			continue
		}
		token, err := startToken(pid)
		if err != nil {
			continue
		}
		p := proc{PID: pid, Token: token}
		if p.alive() {
			found = append(found, p)
		}
	}
	return found
}
