package lease

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/inventory"
)

// Held is a lock this process holds. It renews itself in the background
// until Release, or until renewal fails for long enough that another
// process may have taken it; Lost then closes, and the holder must stop
// writing at once. A watch of the Lease ends the hold as soon as another
// holder shows in it, without waiting for the next renewal.
type Held struct {
	client kubernetes.Interface
	env    string
	opts   Options
	since  time.Time
	log    *slog.Logger

	lost     chan struct{}
	stop     chan struct{}
	stopped  chan struct{}
	watched  chan struct{}
	lostOnce sync.Once
	stopOnce sync.Once

	mu    sync.Mutex
	lease *coordinationv1.Lease
	err   error
	// confirmed is when the last write that took or renewed the Lease
	// began; the hold is trusted for giveUp from then.
	confirmed time.Time
}

func newHeld(client kubernetes.Interface, env string, opts Options, l *coordinationv1.Lease, confirmed time.Time) *Held {
	h := &Held{
		client:    client,
		env:       env,
		opts:      opts,
		since:     acquiredAt(l),
		log:       opts.Logger.With("environment", env),
		lease:     l,
		confirmed: confirmed,
		lost:      make(chan struct{}),
		stop:      make(chan struct{}),
		stopped:   make(chan struct{}),
		watched:   make(chan struct{}),
	}
	go h.renewLoop()
	go h.watch()
	return h
}

// giveUp is how long after its last confirmed renewal a holder trusts its
// hold: two thirds of the duration, a third less than what a waiting
// process counts before it takes the lock.
func (h *Held) giveUp() time.Duration { return h.opts.Duration * 2 / 3 }

// Writable says whether this process may still write under the lock: nil
// while it holds it, else why not. It is false once the lock is lost or
// released, and as soon as the last renewal that succeeded is older than
// the hold is trusted for, even before the renewal loop notices. It is the
// fence (kube.WithFence) of the writes made under the lock.
func (h *Held) Writable() error {
	select {
	case <-h.lost:
		return h.LostError()
	default:
	}
	select {
	case <-h.stop:
		return fmt.Errorf("the lock of environment %s was released", h.env)
	default:
	}
	h.mu.Lock()
	since := time.Since(h.confirmed)
	h.mu.Unlock()
	if since >= h.giveUp() {
		return errs.Cluster(fmt.Errorf("lost the lock of environment %s: not renewed for %s", h.env, since.Round(time.Millisecond)))
	}
	return nil
}

// Environment is the environment the lock is for.
func (h *Held) Environment() string { return h.env }

// Holder is this process's identity as written in the Lease.
func (h *Held) Holder() string { return h.opts.Holder }

// Since is when this process took the lock.
func (h *Held) Since() time.Time { return h.since }

// Lost closes when the lock is lost before Release: another process took
// it, or renewal failed until the Lease may have expired. It never closes
// after Release, so a goroutine waiting on it must also wait on something
// that ends.
func (h *Held) Lost() <-chan struct{} { return h.lost }

// Err says why the lock was lost; nil while it is held.
func (h *Held) Err() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

// LostError is the error a run that lost the lock stops with, the same in
// one-shot commands and in the sync loop: "lost the lock of environment
// ENV: why", classified as a cluster error (exit 6), whatever the cause.
// Renewals that kept failing mean the cluster could not be written; a lock
// found taken means another process counted it expired, which it does
// only after this process's renewals stopped reaching the cluster. Nil
// while the lock is held.
func (h *Held) LostError() error {
	err := h.Err()
	if err == nil {
		return nil
	}
	return errs.Cluster(fmt.Errorf("lost the lock of environment %s: %w", h.env, err))
}

// Release stops the renewal and clears the holder, so that a waiting
// process takes the lock at its next poll instead of after the lease
// duration. A lock already lost, or a Lease already gone, is not an error.
// Release runs once; later calls return nil.
func (h *Held) Release(ctx context.Context) error {
	first := false
	h.stopOnce.Do(func() { first = true; close(h.stop) })
	if !first {
		return nil
	}
	<-h.stopped
	<-h.watched
	select {
	case <-h.lost:
		return nil
	default:
	}
	h.mu.Lock()
	cur := h.lease.DeepCopy()
	h.mu.Unlock()
	leases := h.client.CoordinationV1().Leases(h.opts.Namespace)
	for range 3 {
		if holderOf(cur) != h.opts.Holder {
			return nil
		}
		empty := ""
		now := metav1.NowMicro()
		cur.Spec.HolderIdentity = &empty
		cur.Spec.RenewTime = &now
		_, err := leases.Update(ctx, cur, metav1.UpdateOptions{})
		switch {
		case err == nil, apierrors.IsNotFound(err):
			h.log.Debug("lock released")
			return nil
		case apierrors.IsConflict(err):
			// Our own renewal raced, or someone took it: read and judge again.
			if cur, err = leases.Get(ctx, cur.Name, metav1.GetOptions{}); err != nil {
				if apierrors.IsNotFound(err) {
					return nil
				}
				return errs.Cluster(fmt.Errorf("release the lock of environment %s: %w", h.env, err))
			}
		default:
			return errs.Cluster(fmt.Errorf("release the lock of environment %s: %w", h.env, err))
		}
	}
	return errs.Cluster(fmt.Errorf("release the lock of environment %s: the Lease kept changing", h.env))
}

// renewLoop renews every third of the duration. A renewal that keeps
// failing gives the lock up two thirds of a duration after the last good
// one: a waiting process counts a full duration from when it last saw the
// Lease change, which is after that renewal, so it cannot take the lock
// while this process still believes it holds it.
func (h *Held) renewLoop() {
	defer close(h.stopped)
	every := h.opts.Duration / 3
	giveUp := h.giveUp()
	h.mu.Lock()
	last := h.confirmed
	h.mu.Unlock()
	t := time.NewTimer(every)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
		}
		attempt := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), max(giveUp-time.Since(last), 100*time.Millisecond))
		err := h.renew(ctx)
		cancel()
		var taken *takenError
		switch {
		case err == nil:
			last = attempt
			h.mu.Lock()
			h.confirmed = attempt
			h.mu.Unlock()
			t.Reset(every)
		case errors.As(err, &taken):
			h.lose(err)
			return
		case time.Since(last) >= giveUp:
			h.lose(fmt.Errorf("could not renew the lock of environment %s for %s: %w", h.env, time.Since(last).Round(time.Millisecond), err))
			return
		default:
			h.log.Warn("renewing the lock failed; retrying", "err", err)
			t.Reset(min(every/4+10*time.Millisecond, giveUp-time.Since(last)))
		}
	}
}

// takenError is a Lease found held by someone else at renewal.
type takenError struct{ env, holder string }

func (e *takenError) Error() string {
	if e.holder == "" {
		return fmt.Sprintf("the lock of environment %s was released by someone else", e.env)
	}
	return fmt.Sprintf("the lock of environment %s was taken by %s", e.env, e.holder)
}

// renew writes a new renewTime, with the version last seen as the
// precondition; on a conflict it reads the Lease and renews only if this
// process still holds it. A Lease deleted under a holder (a `down` of the
// last environment removes the namespace) is made again.
func (h *Held) renew(ctx context.Context) error {
	h.mu.Lock()
	next := h.lease.DeepCopy()
	h.mu.Unlock()
	leases := h.client.CoordinationV1().Leases(h.opts.Namespace)
	now := metav1.NowMicro()
	next.Spec.RenewTime = &now
	out, err := leases.Update(ctx, next, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) {
		cur, gerr := leases.Get(ctx, next.Name, metav1.GetOptions{})
		if gerr != nil {
			return gerr
		}
		if holderOf(cur) != h.opts.Holder {
			return &takenError{env: h.env, holder: holderOf(cur)}
		}
		cur.Spec.RenewTime = &now
		out, err = leases.Update(ctx, cur, metav1.UpdateOptions{})
	}
	if apierrors.IsNotFound(err) {
		a := &acquirer{client: h.client, env: h.env, name: next.Name, opts: h.opts}
		out, err = a.create(ctx)
		if apierrors.IsAlreadyExists(err) {
			return &takenError{env: h.env, holder: "another process"}
		}
	}
	if err != nil {
		return err
	}
	h.mu.Lock()
	h.lease = out
	h.mu.Unlock()
	return nil
}

func (h *Held) lose(err error) {
	h.lostOnce.Do(func() {
		h.mu.Lock()
		h.err = err
		h.mu.Unlock()
		h.log.Warn("lock lost", "err", err)
		close(h.lost)
	})
}

// Info is who holds an environment's lock, for status.
type Info struct {
	Environment string    `json:"environment"`
	Holder      string    `json:"holder,omitempty"`
	Since       time.Time `json:"since,omitzero"`
	RenewedAt   time.Time `json:"renewedAt,omitzero"`
	// Duration is the Lease's validity without renewal.
	Duration time.Duration `json:"duration"`
}

// Held reports whether someone holds the lock by the Lease's own record:
// a holder, renewed within its duration of now. It reads the local clock
// against the holder's, so it serves display, never the decision to take
// the lock.
func (i *Info) Held(now time.Time) bool {
	return i.Holder != "" && now.Sub(i.RenewedAt) < i.Duration
}

// Get reads env's lock without taking it. An environment whose lock was
// never taken gives nil and no error.
func Get(ctx context.Context, client kubernetes.Interface, env string) (*Info, error) {
	ns, err := inventory.Locate(ctx, client, env)
	if err != nil {
		return nil, err
	}
	l, err := client.CoordinationV1().Leases(ns).Get(ctx, Name(env), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, errs.Cluster(fmt.Errorf("read the lock of environment %s: %w", env, err))
	}
	info := &Info{Environment: env, Holder: holderOf(l), Since: acquiredAt(l)}
	if l.Spec.RenewTime != nil {
		info.RenewedAt = l.Spec.RenewTime.Time
	}
	if l.Spec.LeaseDurationSeconds != nil {
		info.Duration = time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second
	}
	return info, nil
}

// watchRetry spaces out the attempts to watch the Lease again after the
// API server refused or ended a watch.
const watchRetry = time.Second

// watch follows the Lease and loses the lock the moment the Lease names
// another holder, or none while this process has not released it: a lock
// taken by hand, or by a process that judged it expired, stops this
// holder's writes at once rather than at its next renewal. A Lease deleted
// under the holder is left to the renewal, which makes it again.
func (h *Held) watch() {
	defer close(h.watched)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-h.stop:
		case <-h.lost:
		}
		cancel()
	}()
	leases := h.client.CoordinationV1().Leases(h.opts.Namespace)
	h.mu.Lock()
	rv, name := h.lease.ResourceVersion, h.lease.Name
	h.mu.Unlock()
	for ctx.Err() == nil {
		w, err := leases.Watch(ctx, metav1.ListOptions{
			FieldSelector:   fields.OneTermEqualSelector("metadata.name", name).String(),
			ResourceVersion: rv,
		})
		if err != nil {
			h.log.Debug("watching the lock failed; retrying", "err", err)
			if !sleepCtx(ctx, watchRetry) {
				return
			}
			continue
		}
		rv = h.follow(ctx, w, rv)
	}
}

// follow judges each event of w until it ends, and returns the version to
// watch from next: "" after the server said the last one is too old.
func (h *Held) follow(ctx context.Context, w watch.Interface, rv string) string {
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return rv
		case ev, ok := <-w.ResultChan():
			if !ok {
				return rv
			}
			switch ev.Type {
			case watch.Error:
				if apierrors.IsResourceExpired(apierrors.FromObject(ev.Object)) || apierrors.IsGone(apierrors.FromObject(ev.Object)) {
					return ""
				}
				sleepCtx(ctx, watchRetry)
				return rv
			case watch.Added, watch.Modified:
				l, ok := ev.Object.(*coordinationv1.Lease)
				if !ok {
					continue
				}
				rv = l.ResourceVersion
				select {
				case <-h.stop: // our own release
					return rv
				default:
				}
				if holder := holderOf(l); holder != h.opts.Holder {
					h.lose(&takenError{env: h.env, holder: holder})
					return rv
				}
			}
		}
	}
}

// sleepCtx waits d or until ctx ends, and says whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
