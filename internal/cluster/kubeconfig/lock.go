package kubeconfig

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// fileLock is an exclusive flock(2) on a sibling "<kubeconfig>.lock" file.
//
// flock rather than client-go's O_EXCL lock file: a lock held with flock
// dies with its process, so a crashed envctl never leaves a lock behind that
// blocks every later write. The file has the same name client-go and kind
// use, so while envctl holds it, `kubectl config ...` and kind fail fast
// instead of racing with envctl's read-modify-write. The file is removed
// before it is unlocked, so it does not linger to confuse those tools.
type fileLock struct {
	f *os.File
}

// lockPath is the lock file guarding the kubeconfig at path.
func lockPath(path string) string { return path + ".lock" }

// acquire blocks until it holds the lock on path, or ctx ends. It polls
// with a non-blocking flock because a blocking flock cannot be cancelled.
func acquire(ctx context.Context, path string) (*fileLock, error) {
	name := lockPath(path)
	wait := 5 * time.Millisecond
	for {
		l, err := tryAcquire(name)
		if err != nil {
			return nil, err
		}
		if l != nil {
			return l, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for lock %s: %w", name, context.Cause(ctx))
		case <-time.After(wait):
		}
		wait = min(2*wait, 100*time.Millisecond)
	}
}

// tryAcquire returns nil, nil when another process holds the lock.
func tryAcquire(name string) (*fileLock, error) {
	f, err := os.OpenFile(name, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", name, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) || errors.Is(err, syscall.EINTR) {
			return nil, nil
		}
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	// The previous holder removes the file before unlocking. If it did so
	// between our open and our flock, we hold a lock on a file nobody else
	// will ever see: start over with the file now at that name.
	held, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat lock %s: %w", name, err)
	}
	current, err := os.Stat(name)
	if err != nil || !os.SameFile(held, current) {
		f.Close()
		return nil, nil
	}
	return &fileLock{f: f}, nil
}

// release removes the lock file, then unlocks it. Releasing twice is a
// no-op, so callers can defer it and still check the error on the way out.
func (l *fileLock) release() error {
	if l.f == nil {
		return nil
	}
	defer func() { l.f = nil }()
	rmErr := os.Remove(l.f.Name())
	if errors.Is(rmErr, os.ErrNotExist) {
		rmErr = nil
	}
	closeErr := l.f.Close() // closing the descriptor drops the flock
	if err := errors.Join(rmErr, closeErr); err != nil {
		return fmt.Errorf("release lock %s: %w", l.f.Name(), err)
	}
	return nil
}
