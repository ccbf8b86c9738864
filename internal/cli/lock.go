package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/client-go/kubernetes"

	"github.com/envctl/envctl/internal/lease"
	"github.com/envctl/envctl/internal/testhook"
)

// defaultLockTimeout is how long a command waits, by default, for another
// envctl that is writing the same environment.
const defaultLockTimeout = 2 * time.Minute

// releaseTimeout bounds the release of the lock at the end of a command,
// which runs even after Ctrl-C.
const releaseTimeout = 10 * time.Second

// bindLockTimeout adds --lock-timeout, shared by the commands that write an
// environment.
func bindLockTimeout(fs *pflag.FlagSet, p *time.Duration) {
	fs.DurationVar(p, "lock-timeout", defaultLockTimeout,
		"how long to wait for another envctl writing this environment to finish (0: do not wait)")
}

func checkLockTimeout(d time.Duration) error {
	if d < 0 {
		return usageError(fmt.Errorf("--lock-timeout must not be negative, got %s", d))
	}
	return nil
}

// environmentLock is the per-environment lock a writing command holds.
type environmentLock struct {
	held *lease.Held
	stop chan struct{}
	f    *Factory
}

// lockEnvironment takes env's lock (a Lease in envctl-system) for command,
// so that two envctl processes never write one environment at once. When
// another process holds it, it says who and since when, and waits up to
// timeout; then it fails with a conflict (exit 5) naming the holder. The
// returned context ends if the lock is lost while the command runs (its
// renewal failed long enough for another process to take it): the command
// then stops writing as after Ctrl-C. The lock of a process that is killed
// expires after lease.DefaultDuration.
//
// client should not be the one whose requests a run counts: the lock's
// own writes are not the run's.
func lockEnvironment(ctx context.Context, f *Factory, client kubernetes.Interface, env, command string, timeout time.Duration) (context.Context, *environmentLock, error) {
	errOut := f.Streams.ErrOut
	held, err := lease.Acquire(ctx, client, env, lease.Options{
		Holder: lease.Identity(command),
		Wait:   timeout,
		OnWait: func(holder string, since time.Time) {
			at := ""
			if !since.IsZero() {
				at = " since " + since.Local().Format(time.DateTime)
			}
			if timeout == 0 {
				fmt.Fprintf(errOut, "Environment %s is being written by %s%s; not waiting (--lock-timeout 0)\n", env, holder, at)
				return
			}
			fmt.Fprintf(errOut, "Environment %s is being written by %s%s; waiting up to %s for it (--lock-timeout)\n",
				env, holder, at, timeout)
		},
		Logger: f.Logger,
		// lease.DefaultDuration, but in envctl's own tests.
		Duration: testhook.LeaseDuration(),
	})
	if err != nil {
		return nil, nil, err
	}
	runCtx, cancel := context.WithCancelCause(ctx)
	l := &environmentLock{held: held, stop: make(chan struct{}), f: f}
	go func() {
		select {
		case <-held.Lost():
			fmt.Fprintf(errOut, "Error: lost the lock of environment %s (%v); stopping\n", env, held.Err())
			cancel(held.LostError())
		case <-l.stop:
		}
	}()
	return runCtx, l, nil
}

// release gives the lock up, at once, so that a waiting process takes
// over within a second. It runs once; later calls do nothing.
func (l *environmentLock) release() {
	if l == nil || l.stop == nil {
		return
	}
	close(l.stop)
	l.stop = nil
	ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancel()
	if err := l.held.Release(ctx); err != nil {
		// It expires on its own.
		l.f.Logger.Warn("could not release the environment's lock; it expires on its own", "err", err)
	}
	// The run's context is left alone: down goes on to delete the cluster
	// with it. It ends with the command's own context.
}
