package lease

import (
	"context"
	"fmt"
	"io"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/envctl/envctl/internal/kube"
)

// releaseTimeout bounds the release of a command's lock, which runs even
// after Ctrl-C.
const releaseTimeout = 10 * time.Second

// Holding is the lock a command that writes an environment holds (Hold).
type Holding struct {
	held *Held
	stop chan struct{}
	opts Options
}

// Hold takes env's lock for a command, so that two envctl processes never
// write one environment at once. When another process holds it, Hold says
// on out who and since when, and waits up to opts.Wait; then it fails with
// a conflict naming the holder. The returned context ends if the lock is
// lost while the command runs (its renewal failed long enough for another
// process to take it), with the loss as its cause and a line on out: the
// command then stops writing as after Ctrl-C. The context also carries the
// lock's fence (Held.Writable, through kube.WithFence): no write made with
// it, or with a context derived from it, is sent once the lock is lost or
// released, not even those that outlive the context's cancellation.
//
// client should not be one whose requests a run counts: the lock's own
// writes are not the run's.
func Hold(ctx context.Context, client kubernetes.Interface, env string, opts Options, out io.Writer) (context.Context, *Holding, error) {
	opts.OnWait = func(holder string, since time.Time) {
		at := ""
		if !since.IsZero() {
			at = " since " + since.Local().Format(time.DateTime)
		}
		if opts.Wait == 0 {
			fmt.Fprintf(out, "Environment %s is being written by %s%s; not waiting (--lock-timeout 0)\n", env, holder, at)
			return
		}
		fmt.Fprintf(out, "Environment %s is being written by %s%s; waiting up to %s for it (--lock-timeout)\n",
			env, holder, at, opts.Wait)
	}
	held, err := Acquire(ctx, client, env, opts)
	if err != nil {
		return nil, nil, err
	}
	runCtx, cancel := context.WithCancelCause(kube.WithFence(ctx, held.Writable))
	h := &Holding{held: held, stop: make(chan struct{}), opts: opts}
	go func() {
		select {
		case <-held.Lost():
			fmt.Fprintf(out, "Error: lost the lock of environment %s (%v); stopping\n", env, held.Err())
			cancel(held.LostError())
		case <-h.stop:
		}
	}()
	return runCtx, h, nil
}

// Release gives the lock up, at once, so that a waiting process takes
// over within a second. It runs once; later calls, and calls on nil, do
// nothing. The command's context is left alone: down goes on to delete
// the cluster with it.
func (h *Holding) Release() {
	if h == nil || h.stop == nil {
		return
	}
	close(h.stop)
	h.stop = nil
	ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancel()
	if err := h.held.Release(ctx); err != nil && h.opts.Logger != nil {
		h.opts.Logger.Warn("could not release the environment's lock; it expires on its own", "err", err)
	}
}
