package embedded

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestLockDirExcludes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	first, err := lockDir(context.Background(), dir, lockFile, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("lockDir created %s as %v (%v), want an owner-only directory", dir, fi.Mode(), err)
	}

	// A second holder waits, and gives up when its context ends.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := lockDir(ctx, dir, lockFile, true, nil); err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second lock while the first is held: %v, want to wait until the deadline", err)
	}

	got := make(chan error, 1)
	var waits, ends int
	var endErr error
	go func() {
		l, err := lockDir(context.Background(), dir, lockFile, true, func() func(error) {
			waits++
			return func(err error) { ends++; endErr = err }
		})
		if err == nil {
			l.unlock()
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("second lock taken while the first is held (%v)", err)
	case <-time.After(100 * time.Millisecond):
	}
	first.unlock()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("second lock not taken after the first was released")
	}
	// The user hears once that it waits, and once that the wait is over.
	if waits != 1 || ends != 1 || endErr != nil {
		t.Errorf("waiting reported %d times, its end %d times (%v); want once each, without error", waits, ends, endErr)
	}
}

// A holder that removes the directory (Delete) leaves waiters to find
// that out: one that may create the directory makes a new one and locks
// it, one that may not gets errNoDir.
func TestLockDirRemovedWhileWaiting(t *testing.T) {
	for _, create := range []bool{true, false} {
		dir := filepath.Join(t.TempDir(), "demo")
		holder, err := lockDir(context.Background(), dir, lockFile, true, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan error, 1)
		go func() {
			l, err := lockDir(context.Background(), dir, lockFile, create, nil)
			if err == nil {
				defer l.unlock()
				// The lock held must be the file now at the path.
				held, _ := l.f.Stat()
				now, serr := os.Stat(filepath.Join(dir, lockFile))
				if serr != nil || !os.SameFile(held, now) {
					err = errors.New("holds a lock on a file that is no longer at the path")
				}
			}
			got <- err
		}()
		time.Sleep(50 * time.Millisecond)
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		holder.unlock()
		select {
		case err := <-got:
			switch {
			case create && err != nil:
				t.Errorf("create: %v", err)
			case !create && !errors.Is(err, errNoDir):
				t.Errorf("without create: %v, want errNoDir", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("create=%v: waiter still waiting after the directory was removed", create)
		}
	}
}

func TestLockDirMissingWithoutCreate(t *testing.T) {
	_, err := lockDir(context.Background(), filepath.Join(t.TempDir(), "nothere"), lockFile, false, nil)
	if !errors.Is(err, errNoDir) {
		t.Errorf("lockDir of a missing directory: %v, want errNoDir", err)
	}
}
