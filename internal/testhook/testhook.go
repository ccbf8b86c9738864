// Package testhook lets envctl's own tests stop a real envctl process at a
// named phase of its work, so that a test can kill it there (SIGKILL, as a
// crash or the OOM killer would), interrupt it, or take its cluster away,
// at exactly that point rather than after a sleep that may or may not land
// in the phase.
//
// It is honoured only in test binaries (testing.Testing reports true),
// which envctl's process-level tests run as envctl; in the envctl binary
// every function here does nothing, whatever the environment says.
//
// A test sets PauseEnv to a phase ("apply") or to a phase and an
// occurrence ("apply#2": the second time the phase is reached) and DirEnv
// to a directory. When the process reaches the phase it writes
// DIR/PHASE.paused (holding its pid) and waits until DIR/PHASE.resume
// exists or its context ends.
package testhook

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Environment variables read in test binaries only.
const (
	// PauseEnv names the phase to pause at: PHASE or PHASE#N.
	PauseEnv = "ENVCTL_TEST_PAUSE"
	// DirEnv is the directory of the paused and resume files.
	DirEnv = "ENVCTL_TEST_PAUSE_DIR"
	// ShardSizeEnv sets the inventory's shard size in bytes, so that a test
	// can have a small inventory stored in several shards.
	ShardSizeEnv = "ENVCTL_TEST_INVENTORY_SHARD_SIZE"
	// LeaseDurationEnv sets the duration of the environment's lock (a Go
	// duration), so that a test sees the lock of a killed process expire
	// in seconds rather than after the default.
	LeaseDurationEnv = "ENVCTL_TEST_LEASE_DURATION"
	// RecordEnv names a file that Record appends its lines to.
	RecordEnv = "ENVCTL_TEST_RECORD"
)

// Phases a test can pause at.
const (
	// Render: the render has started and has not returned.
	Render = "render"
	// LiveRead: the live objects have been read for the unchanged checks
	// and nothing has been written yet.
	LiveRead = "live-read"
	// Apply: one object of a stage has been written, the others of the
	// stage not all yet.
	Apply = "apply"
	// Health: a component applied and its health wait begins.
	Health = "health"
	// Prune: one object has been deleted by prune.
	Prune = "prune"
	// InventorySave: the shards after the first are written and the first,
	// which switches the stored inventory over, is not.
	InventorySave = "inventory-save"
)

var (
	mu     sync.Mutex
	counts = map[string]int{}
)

// enabled reports whether the hooks are honoured: in test binaries only.
func enabled() bool { return testing.Testing() }

// Reached marks that the process reached phase. When the test asked to
// pause there, it announces the pause and blocks until the test resumes it
// or ctx ends.
func Reached(ctx context.Context, phase string) {
	if !enabled() {
		return
	}
	want := os.Getenv(PauseEnv)
	if want == "" {
		return
	}
	name, nth := want, 1
	if n, s, ok := strings.Cut(want, "#"); ok {
		name = n
		if v, err := strconv.Atoi(s); err == nil && v > 0 {
			nth = v
		}
	}
	if name != phase {
		return
	}
	mu.Lock()
	counts[phase]++
	hit := counts[phase] == nth
	mu.Unlock()
	if !hit {
		return
	}
	dir := os.Getenv(DirEnv)
	if dir == "" {
		return
	}
	paused := filepath.Join(dir, phase+".paused")
	if err := os.WriteFile(paused+".tmp", []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		fmt.Fprintf(os.Stderr, "testhook: %v\n", err)
		return
	}
	if err := os.Rename(paused+".tmp", paused); err != nil {
		fmt.Fprintf(os.Stderr, "testhook: %v\n", err)
		return
	}
	resume := filepath.Join(dir, phase+".resume")
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := os.Stat(resume); err == nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// ShardSize is the inventory shard size a test asked for, or 0.
func ShardSize() int {
	if !enabled() {
		return 0
	}
	n, err := strconv.Atoi(os.Getenv(ShardSizeEnv))
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// LeaseDuration is the lock duration a test asked for, or 0.
func LeaseDuration() time.Duration {
	if !enabled() {
		return 0
	}
	d, err := time.ParseDuration(os.Getenv(LeaseDurationEnv))
	if err != nil || d < 0 {
		return 0
	}
	return d
}

// Recording says whether Record writes anywhere, so that a caller can skip
// preparing what it would record.
func Recording() bool { return enabled() && os.Getenv(RecordEnv) != "" }

// Record appends "what line" to the file RecordEnv names, so that a test
// can see what a real envctl process worked from (the renders it made, say)
// without parsing its output.
func Record(what, line string) {
	if !enabled() {
		return
	}
	path := os.Getenv(RecordEnv)
	if path == "" {
		return
	}
	mu.Lock()
	defer mu.Unlock()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		fmt.Fprintf(os.Stderr, "testhook: %v\n", err)
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "%s %s\n", what, line)
}
