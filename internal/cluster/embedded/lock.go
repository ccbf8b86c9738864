package embedded

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// dirLock is an exclusive flock(2) on a file in a cluster's state
// directory. flock because the kernel drops it when its holder dies: a
// crashed envctl never leaves a lock behind.
type dirLock struct {
	f *os.File
}

// errNoDir is returned by lockDir when the directory does not exist (or
// was removed while waiting) and was not to be created.
var errNoDir = errors.New("state directory does not exist")

// lockDir takes the lock file name in dir, waiting while another process
// holds it, until ctx ends. With create, dir is created owner-only when
// missing; without, a missing dir is errNoDir.
//
// A holder may remove the whole directory (Delete does) before it lets
// go; a waiter then holds a lock on a file nobody else can open. So after
// each flock the file is checked to still be the one at the path, and the
// wait starts over on the new one when it is not.
//
// waiting, when not nil, is called once if the lock is held by another,
// so that the user hears why nothing happens; it returns the function
// lockDir calls when the wait is over.
func lockDir(ctx context.Context, dir, name string, create bool, waiting func() func(error)) (l *dirLock, err error) {
	path := filepath.Join(dir, name)
	wait := 5 * time.Millisecond
	var waited func(error)
	defer func() {
		if waited != nil {
			waited(err)
		}
	}()
	for {
		if create {
			if err := os.MkdirAll(dir, dirMode); err != nil {
				return nil, fmt.Errorf("create %s: %w", dir, err)
			}
		} else if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			return nil, errNoDir
		}
		l, err := tryLock(path)
		if err != nil {
			return nil, err
		}
		if l != nil {
			return l, nil
		}
		if waiting != nil && waited == nil {
			waited = waiting()
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for %s, held by another envctl working on this cluster: %w", path, context.Cause(ctx))
		case <-time.After(wait):
		}
		wait = min(2*wait, 100*time.Millisecond)
	}
}

// tryLock returns nil, nil when another process holds the lock, or when
// the file it locked is no longer at path.
func tryLock(path string) (*dirLock, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, fileMode)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil // the directory went away; the caller looks again
	}
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) || errors.Is(err, syscall.EINTR) {
			return nil, nil
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	held, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat lock %s: %w", path, err)
	}
	if current, err := os.Stat(path); err != nil || !os.SameFile(held, current) {
		f.Close()
		return nil, nil
	}
	return &dirLock{f: f}, nil
}

// unlock releases the lock; the file stays, so that waiters need not tell
// a removed lock file from a removed directory.
func (l *dirLock) unlock() {
	if l != nil && l.f != nil {
		l.f.Close()
		l.f = nil
	}
}
