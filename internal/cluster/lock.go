package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// FileLock is an exclusive flock(2) on a file, held by one envctl process
// at a time. flock because the kernel drops it when its holder dies: a
// killed envctl never leaves a lock behind.
type FileLock struct {
	f *os.File
}

// LockFile takes the lock on path, creating the file and its directory,
// waiting while another process holds it until ctx ends. waiting, when not
// nil, is called once if the wait begins, with the holder's process id
// (0 when unknown), so that the user hears why nothing happens.
func LockFile(ctx context.Context, path string, waiting func(holder int)) (*FileLock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	wait := 10 * time.Millisecond
	told := false
	for {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return nil, fmt.Errorf("open lock %s: %w", path, err)
		}
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			// The holder's pid, for the message another waiter prints.
			_ = f.Truncate(0)
			_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())), 0)
			return &FileLock{f: f}, nil
		}
		f.Close()
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if !told && waiting != nil {
			told = true
			waiting(lockHolder(path))
		}
		select {
		case <-ctx.Done():
			return nil, waitError(ctx, fmt.Errorf("wait for %s, held by another envctl (pid %d)", path, lockHolder(path)))
		case <-time.After(wait):
		}
		wait = min(2*wait, 200*time.Millisecond)
	}
}

// lockHolder reads the pid the holder of the lock at path wrote; 0 when
// unknown.
func lockHolder(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// Unlock releases the lock; the file stays, so that waiters all lock the
// same file. Unlocking twice does nothing.
func (l *FileLock) Unlock() {
	if l != nil && l.f != nil {
		l.f.Close()
		l.f = nil
	}
}
