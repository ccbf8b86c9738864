package loop

import (
	"context"
	"sync"
	"time"

	"github.com/envctl/envctl/internal/kube"
	"github.com/envctl/envctl/internal/lease"
	"github.com/envctl/envctl/internal/syncstate"
)

// releaseTimeout bounds the release of the lock at shutdown.
const releaseTimeout = 2 * time.Second

// Runner runs a Loop while this process holds the environment's lock
// (internal/lease): the leader election of the daemon's replicas, and the
// one-writer rule that keeps a sync and an up from applying at once.
type Runner struct {
	// Loop configures each term's Loop.
	Loop Options
	// Lease configures the lock; Holder defaults to Loop.Holder.
	Lease lease.Options
	// Standby makes a lost lock a return to waiting (the daemon). Without
	// it (sync) a lost lock ends Run with an error, as a sync that another
	// writer displaced must not go on as if it still converged anything.
	Standby bool

	mu      sync.Mutex
	loop    *Loop
	leading bool
}

// Run takes the lock and runs the loop, until ctx ends (nil) or, without
// Standby, the lock is lost or cannot be taken (an error).
func (r *Runner) Run(ctx context.Context) error {
	opts := r.Lease
	if opts.Holder == "" {
		opts.Holder = r.Loop.Holder
	}
	if opts.Logger == nil {
		opts.Logger = r.Loop.Logger
	}
	log := r.Loop.Logger
	env := r.Loop.Environment
	for {
		held, err := lease.Acquire(ctx, r.Loop.Engine.State(), env, opts)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		l, err := New(r.Loop)
		if err != nil {
			_ = held.Release(context.WithoutCancel(ctx))
			return err
		}
		if log != nil {
			log.Info("holding the lock of the environment; reconciling", "environment", env, "holder", opts.Holder)
		}
		r.setTerm(l, true)
		// The term's writes, those of its shutdown included, are fenced by
		// the lock: none is sent once it is lost.
		term, cancel := context.WithCancel(kube.WithFence(ctx, held.Writable))
		go func() {
			select {
			case <-held.Lost():
				cancel()
			case <-term.Done():
			}
		}()
		err = l.Run(term)
		cancel()
		r.setTerm(nil, false)
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
		if rerr := held.Release(rctx); rerr != nil && log != nil {
			log.Warn("could not release the lock; it expires by itself", "err", rerr)
		}
		rcancel()
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		lost := held.LostError()
		if !r.Standby {
			return lost
		}
		if log != nil {
			log.Warn("back to standby", "err", lost)
		}
	}
}

func (r *Runner) setTerm(l *Loop, leading bool) {
	r.mu.Lock()
	r.loop, r.leading = l, leading
	r.mu.Unlock()
	if m := r.Loop.Metrics; m != nil {
		if leading {
			m.Leader.Set(1)
		} else {
			m.Leader.Set(0)
		}
	}
}

// Ready reports readiness for /readyz: a standby is ready (to take over,
// and so that a rolling update of the daemon's replicas can proceed, and
// to pass webhooks on to the leader); the leader once its first reconcile
// is done and its watches listed, and only while its last attempt
// converged: a leader retrying a failure, or stuck on a revision that does
// not render, is not ready, and says why.
func (r *Runner) Ready() (bool, string) {
	r.mu.Lock()
	l, leading := r.loop, r.leading
	r.mu.Unlock()
	switch {
	case !leading:
		return true, "standby"
	case !l.Ready():
		return false, "leader, first reconcile or watches not done"
	}
	ok, why := l.Converged()
	return ok, "leader, " + why
}

// Loop returns the running loop, nil on a standby.
func (r *Runner) Current() *Loop {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.loop
}

// Trigger asks for a look at the source now (a webhook). A standby passes
// the request on to the leader through the environment's record.
func (r *Runner) Trigger() {
	if l := r.Current(); l != nil {
		l.Trigger()
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		store := &syncstate.Store{Client: r.Loop.Engine.State()}
		if err := store.RequestFetch(ctx, r.Loop.Environment); err != nil && r.Loop.Logger != nil {
			r.Loop.Logger.Warn("could not pass the webhook on to the leader", "err", err)
		}
	}()
}
