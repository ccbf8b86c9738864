package kubeconfig

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// staleAfter is how old a lock file with no live holder to name must be
// before it counts as left behind by a writer that died.
const staleAfter = time.Minute

// maxLockWait bounds the wait for a lock a live process holds: a kubeconfig
// write takes milliseconds, so a lock held this long is stuck, and the
// caller's deadline (minutes, for a cluster's creation) is too long to sit
// silent.
var maxLockWait = 30 * time.Second

// fileLocks are the lock files client-go takes before it modifies a
// kubeconfig (clientcmd.ModifyConfig, and so every `kubectl config`
// command): "<file>.lock" created exclusively, for every file of the
// loading precedence, in sorted order. Taking the same files the same way
// is what keeps kubectl and envctl from writing over each other.
type fileLocks struct {
	names []string
}

// lockName is the lock file guarding the kubeconfig at path, as client-go
// names it.
func lockName(path string) string { return path + ".lock" }

// lockAll takes the lock of every file, in client-go's order, waiting
// while another writer holds one until ctx ends. Where kubectl gives up at
// once, envctl waits: its writes come at the end of minutes of work.
func lockAll(ctx context.Context, files []string) (*fileLocks, error) {
	sorted := slices.Clone(files)
	slices.Sort(sorted)
	l := &fileLocks{}
	for _, f := range slices.Compact(sorted) {
		if err := os.MkdirAll(filepath.Dir(f), 0o700); err != nil {
			l.release()
			return nil, fmt.Errorf("kubeconfig %s: %w", f, err)
		}
		if err := acquire(ctx, lockName(f)); err != nil {
			l.release()
			return nil, err
		}
		l.names = append(l.names, lockName(f))
	}
	return l, nil
}

// acquire creates name exclusively, writing this process's id into it so
// that a waiter can tell a lock left by a killed envctl; it retries while
// the file exists, removing it once it is stale (see stale).
func acquire(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeoutCause(ctx, maxLockWait, fmt.Errorf("held for %s, longer than any write takes", maxLockWait))
	defer cancel()
	wait := 5 * time.Millisecond
	for {
		f, err := os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err == nil {
			_, werr := f.WriteString(strconv.Itoa(os.Getpid()))
			if cerr := f.Close(); werr == nil {
				werr = cerr
			}
			if werr != nil {
				_ = os.Remove(name)
				return fmt.Errorf("lock %s: %w", name, werr)
			}
			return nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("lock %s: %w", name, err)
		}
		if st, ok := stale(name); ok {
			removeIfSame(name, st)
			continue
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kubeconfig is locked: %s exists (kubectl or another envctl is writing the kubeconfig; if none is, remove the file): %w", name, context.Cause(ctx))
		case <-time.After(wait):
		}
		wait = min(2*wait, 100*time.Millisecond)
	}
}

// stale says whether the lock file name was left behind: it names a
// process that no longer exists, or it names none (kubectl writes no pid)
// and is older than staleAfter, longer than any write takes.
func stale(name string) (os.FileInfo, bool) {
	st, err := os.Stat(name)
	if err != nil {
		return nil, false
	}
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, false
	}
	if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && pid > 0 {
		return st, errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) || exited(pid)
	}
	return st, time.Since(st.ModTime()) > staleAfter
}

// exited says whether pid has exited and awaits its parent (a zombie): it
// writes nothing more, and a parent that never reaps it would otherwise
// hold the lock for good.
func exited(pid int) bool {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return false
	}
	f := strings.Fields(string(data[i+1:]))
	return len(f) > 0 && (f[0] == "Z" || f[0] == "X")
}

// removeIfSame removes name if it is still the file st describes, so that
// a lock another waiter took in the meantime is not removed.
func removeIfSame(name string, st os.FileInfo) {
	if now, err := os.Stat(name); err == nil && os.SameFile(now, st) {
		_ = os.Remove(name)
	}
}

// release removes the lock files; releasing twice does nothing.
func (l *fileLocks) release() {
	for _, n := range l.names {
		_ = os.Remove(n)
	}
	l.names = nil
}
