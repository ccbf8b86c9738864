// Package lease holds the one-writer-per-environment lock: a Lease object
// (coordination.k8s.io/v1) in namespace envctl-system, one per environment.
// Every command that writes an environment (up, apply, down, sync) takes it
// for as long as it writes, and the daemon's leader election is the same
// lock taken with an unbounded wait, so a sync on a laptop, an up in CI and
// the replicas of an in-cluster daemon never apply to one environment at
// once. Hold is how a command takes it: it says whom it waits for, and
// ends the command's context if the lock is lost.
//
// A holder renews its Lease in the background every third of the lease
// duration (15 s by default). A process that is killed stops renewing, and
// once its Lease has not changed for a full duration another process takes
// it; a process that stops cleanly releases it (clears the holder) so that
// a waiting one takes over at its next poll, within a second.
//
// Expiry is judged, as client-go's leader election judges it, by how long
// the waiting process itself has seen the record unchanged, never by
// comparing the holder's renewTime with the local clock: a laptop whose
// clock is minutes off the cluster's must neither steal a live lock nor
// wait for ever on a dead one.
//
// Why not client-go's tools/leaderelection: its LeaderElector retries for
// ever inside Run and reports through callbacks, whereas the CLI needs a
// blocking Acquire with a deadline (--lock-timeout) that says who holds the
// lock and since when, a channel that closes when the lock is lost, a
// Release that hands over at once, and the namespace created when missing.
// Those are simpler to get right on the Lease API directly (one Get and one
// optimistic Update per step) than around the elector's callbacks.
package lease

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/ownership"
)

// Namespace is where the Leases live, next to the inventories.
const Namespace = inventory.Namespace

// DefaultDuration is how long a Lease stays valid without renewal: how long
// a killed holder blocks the next writer. Renewal every third of it leaves
// room for two failed renewals before the holder gives the lock up.
const DefaultDuration = 15 * time.Second

// Forever, as Options.Wait, waits until the context ends: the daemon's
// standby replicas wait so for leadership.
const Forever time.Duration = -1

// LabelEnvironment marks a Lease with its environment, so that status can
// list them. It is not ownership.LabelEnvironment: the Lease is not declared
// state, and prune must never find it.
const LabelEnvironment = "envctl.dev/lease"

// Name is the name of env's Lease.
func Name(env string) string { return "envctl-lock-" + env }

// Identity names this process as a holder: "envctl sync (pid 4242 on
// laptop, 9f3a61c2)", which is what a waiting command prints. The random
// part keeps it unique where pid and host are not: the first process of
// every container is pid 1, and two pods can share a host name.
func Identity(command string) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown host"
	}
	return fmt.Sprintf("envctl %s (pid %d on %s, %s)", command, os.Getpid(), host, nonce())
}

// nonce is 8 random hex digits.
func nonce() string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		// crypto/rand does not fail on the systems Go supports; the clock
		// still tells two processes apart.
		return strconv.FormatInt(time.Now().UnixNano()&0xffffffff, 16)
	}
	return hex.EncodeToString(b[:])
}

// Options configure Acquire.
type Options struct {
	// Holder identifies the process (Identity). Required, and unique to the
	// process: two processes with one identity would both think they hold.
	Holder string
	// Wait is how long to wait for another holder to release or lose the
	// lock: 0 tries once, Forever waits until ctx ends.
	Wait time.Duration
	// OnWait, when set, is called when Acquire finds the lock held, and
	// again whenever the holder changes, so that the command can say whom
	// it waits for: "waiting for X, who holds it since T".
	OnWait func(holder string, since time.Time)
	// Duration is how long the Lease stays valid without renewal;
	// DefaultDuration when zero. Whole seconds, at least one.
	Duration time.Duration
	// Namespace defaults to where the environment's state lives
	// (inventory.Locate).
	Namespace string
	// Logger receives debug logs of renewals and hand-overs.
	Logger *slog.Logger
}

func (o *Options) defaults() error {
	if o.Holder == "" {
		return fmt.Errorf("lease: no holder identity")
	}
	if o.Duration <= 0 {
		o.Duration = DefaultDuration
	}
	o.Duration = max(o.Duration.Truncate(time.Second), time.Second)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// pollInterval is how often a waiting Acquire looks at the Lease again:
// often enough that a released lock changes hands within a second.
func pollInterval(d time.Duration) time.Duration {
	return min(max(d/15, 50*time.Millisecond), time.Second)
}

// HeldError is a lock another process still held when the wait ended.
type HeldError struct {
	Environment string
	Holder      string
	Since       time.Time
	Waited      time.Duration
}

func (e *HeldError) Error() string {
	msg := fmt.Sprintf("environment %s is being written by %s", e.Environment, e.Holder)
	if !e.Since.IsZero() {
		msg += " since " + e.Since.Local().Format(time.DateTime)
	}
	if e.Waited > 0 {
		msg += fmt.Sprintf(" (waited %s)", e.Waited.Round(time.Second))
	}
	return msg + "; wait for it to finish, stop it, or raise --lock-timeout"
}

// Acquire takes env's lock for opts.Holder, waiting as opts.Wait says, and
// keeps it renewed until Release or until it is lost (Held.Lost). It creates
// the namespace when missing. A lock still held by another process when the
// wait ends gives a *HeldError classified as a conflict; an error of the
// cluster is classified as such.
func Acquire(ctx context.Context, client kubernetes.Interface, env string, opts Options) (*Held, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	if opts.Namespace != "" {
		return acquireIn(ctx, client, env, opts)
	}
	// The Lease lives with the environment's state (inventory.Locate). A
	// lock taken in Namespace while `daemon install` moved the state to the
	// environment's own namespace is given back and taken there.
	for {
		ns, err := inventory.Locate(ctx, client, env)
		if err != nil {
			return nil, err
		}
		o := opts
		o.Namespace = ns
		held, err := acquireIn(ctx, client, env, o)
		if err != nil || ns != Namespace {
			return held, err
		}
		now, err := inventory.Relocate(ctx, client, env)
		if err == nil && now == ns {
			return held, nil
		}
		_ = held.Release(ctx)
		if err != nil {
			return nil, err
		}
	}
}

// acquireIn is Acquire in opts.Namespace.
func acquireIn(ctx context.Context, client kubernetes.Interface, env string, opts Options) (*Held, error) {
	a := &acquirer{client: client, env: env, opts: opts, name: Name(env)}
	start := time.Now()
	var deadline <-chan time.Time
	if opts.Wait >= 0 {
		t := time.NewTimer(opts.Wait)
		defer t.Stop()
		deadline = t.C
	}
	poll := time.NewTicker(pollInterval(opts.Duration))
	defer poll.Stop()
	for {
		held, busy, err := a.try(ctx)
		if err != nil {
			return nil, err
		}
		if held != nil {
			return held, nil
		}
		if opts.Wait == 0 {
			return nil, errs.Conflict(&HeldError{Environment: env, Holder: busy.holder, Since: busy.since})
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for the lock of environment %s held by %s: %w", env, busy.holder, ctx.Err())
		case <-deadline:
			return nil, errs.Conflict(&HeldError{Environment: env, Holder: busy.holder, Since: busy.since, Waited: time.Since(start)})
		case <-poll.C:
		}
	}
}

// acquirer is the state of one Acquire.
type acquirer struct {
	client kubernetes.Interface
	env    string
	name   string
	opts   Options
	// seen is the version of the Lease last read, and seenAt when this
	// process first read that version: the clock of the expiry.
	seen   string
	seenAt time.Time
	// told is the holder OnWait was last called with.
	told string
	// attempt is when the last try began.
	attempt time.Time
}

// busy is who holds the lock when try could not take it.
type busy struct {
	holder string
	since  time.Time
}

// try takes the lock if it is free, expired, released or missing.
func (a *acquirer) try(ctx context.Context) (*Held, *busy, error) {
	// The hold counts from before the write that takes it, never from its
	// answer: a slow answer must not lengthen what this process believes.
	a.attempt = time.Now()
	leases := a.client.CoordinationV1().Leases(a.opts.Namespace)
	cur, err := leases.Get(ctx, a.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		created, err := a.create(ctx)
		if apierrors.IsAlreadyExists(err) {
			return a.try(ctx) // another process created it first: look again
		}
		if err != nil {
			return nil, nil, err
		}
		return a.hold(created), nil, nil
	}
	if err != nil {
		return nil, nil, errs.Cluster(fmt.Errorf("read the lock of environment %s (Lease %s/%s): %w", a.env, a.opts.Namespace, a.name, err))
	}
	holder := holderOf(cur)
	if holder != "" && holder != a.opts.Holder && !a.expired(cur) {
		b := &busy{holder: holder, since: acquiredAt(cur)}
		if a.opts.OnWait != nil && holder != a.told {
			a.told = holder
			a.opts.OnWait(b.holder, b.since)
		}
		return nil, b, nil
	}
	if holder != "" && holder != a.opts.Holder {
		a.opts.Logger.Info("taking over an expired lock", "environment", a.env, "previous", holder)
	}
	next := cur.DeepCopy()
	a.claim(next, holder)
	updated, err := leases.Update(ctx, next, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		// Another process changed it in between: judge it afresh next time.
		return nil, &busy{holder: holder, since: acquiredAt(cur)}, nil
	}
	if err != nil {
		return nil, nil, errs.Cluster(fmt.Errorf("take the lock of environment %s (Lease %s/%s): %w", a.env, a.opts.Namespace, a.name, err))
	}
	return a.hold(updated), nil, nil
}

// expired says whether the holder let the Lease run out: this process has
// seen the same version for longer than the Lease's duration.
func (a *acquirer) expired(l *coordinationv1.Lease) bool {
	now := time.Now()
	if l.ResourceVersion != a.seen {
		a.seen, a.seenAt = l.ResourceVersion, now
		return false
	}
	d := a.opts.Duration
	if l.Spec.LeaseDurationSeconds != nil && *l.Spec.LeaseDurationSeconds > 0 {
		d = time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second
	}
	return now.Sub(a.seenAt) >= d
}

// create makes the Lease, held by this process, and the namespace first if
// that is what is missing.
func (a *acquirer) create(ctx context.Context) (*coordinationv1.Lease, error) {
	l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{
		Name:      a.name,
		Namespace: a.opts.Namespace,
		Labels:    map[string]string{LabelEnvironment: a.env, ownership.LabelManagedBy: ownership.ManagedByValue},
	}}
	a.claim(l, "")
	leases := a.client.CoordinationV1().Leases(a.opts.Namespace)
	out, err := leases.Create(ctx, l, metav1.CreateOptions{})
	if apierrors.IsNotFound(err) || isNamespaceTerminating(err) {
		if err := inventory.EnsureNamespace(ctx, a.client, a.opts.Namespace); err != nil {
			return nil, err
		}
		out, err = leases.Create(ctx, l, metav1.CreateOptions{})
	}
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, errs.Cluster(fmt.Errorf("create the lock of environment %s (Lease %s/%s): %w", a.env, a.opts.Namespace, a.name, err))
	}
	return out, err
}

// claim makes l held by this process, counting a change of holder.
func (a *acquirer) claim(l *coordinationv1.Lease, previous string) {
	now := metav1.NowMicro()
	secs := int32(a.opts.Duration / time.Second)
	holder := a.opts.Holder
	l.Spec.HolderIdentity = &holder
	l.Spec.LeaseDurationSeconds = &secs
	l.Spec.AcquireTime = &now
	l.Spec.RenewTime = &now
	if previous != a.opts.Holder {
		var n int32
		if l.Spec.LeaseTransitions != nil {
			n = *l.Spec.LeaseTransitions + 1
		}
		l.Spec.LeaseTransitions = &n
	}
}

func (a *acquirer) hold(l *coordinationv1.Lease) *Held {
	a.opts.Logger.Debug("lock taken", "environment", a.env, "holder", a.opts.Holder)
	return newHeld(a.client, a.env, a.opts, l, a.attempt)
}

func holderOf(l *coordinationv1.Lease) string {
	if l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

func acquiredAt(l *coordinationv1.Lease) time.Time {
	if l.Spec.AcquireTime == nil {
		return time.Time{}
	}
	return l.Spec.AcquireTime.Time
}

// isNamespaceTerminating recognises the Forbidden answer to a create in a
// namespace being deleted.
func isNamespaceTerminating(err error) bool {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return false
	}
	d := status.Status().Details
	if d == nil {
		return false
	}
	for _, c := range d.Causes {
		if c.Type == "NamespaceTerminating" {
			return true
		}
	}
	return false
}
