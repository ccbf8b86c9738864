package syncstate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/lease"
)

// Report is what status shows of an environment's sync or daemon.
type Report struct {
	Status
	// Alive says the loop runs now: its record says so and it holds the
	// environment's lock. A killed loop leaves Running set; its lock tells.
	Alive bool `json:"alive"`
	// Lock is the environment's lock as it stands, held by the loop or by
	// another writer (an up in progress).
	Lock *lease.Info `json:"lock,omitempty"`
}

// ReadReport reads env's record and lock; nil when no sync or daemon ever
// ran for it.
func ReadReport(ctx context.Context, client kubernetes.Interface, env string) (*Report, error) {
	st, err := (&Store{Client: client}).status(ctx, env)
	if err != nil || st == nil {
		return nil, err
	}
	lock, err := lease.Get(ctx, client, env)
	if err != nil {
		return nil, err
	}
	r := &Report{Status: *st, Lock: lock}
	r.Alive = st.Running && lock != nil && lock.Holder == st.Holder && lock.Held(time.Now())
	return r, nil
}

// status reads env's status; nil when the loop never wrote one.
func (s *Store) status(ctx context.Context, env string) (*Status, error) {
	cm, err := s.Get(ctx, env)
	if err != nil {
		return nil, err
	}
	st, err := StatusOf(cm)
	if err != nil {
		return nil, errs.Cluster(err)
	}
	return st, nil
}

// pollInterval is how often Control reads the record while it waits.
const pollInterval = 200 * time.Millisecond

// Control talks to the loop of one environment through its record, for
// `envctl reconcile`, `suspend` and `resume`.
type Control struct {
	Store *Store
	Env   string
	// Lock is the environment's lock while someone holds it; nil when free.
	Lock *lease.Info
}

// NewControl reads env's lock, to tell whether a loop runs for it now.
func NewControl(ctx context.Context, client kubernetes.Interface, env string) (*Control, error) {
	lock, err := lease.Get(ctx, client, env)
	if err != nil {
		return nil, err
	}
	if lock != nil && !lock.Held(time.Now()) {
		lock = nil
	}
	return &Control{Store: &Store{Client: client}, Env: env, Lock: lock}, nil
}

// Running returns the loop's status when a sync or daemon runs for the
// environment now: its record says it runs, and it holds the lock.
func (c *Control) Running(ctx context.Context) (*Status, error) {
	st, err := c.Store.status(ctx, c.Env)
	if err != nil {
		return nil, err
	}
	if st == nil || !st.Running || c.Lock == nil || c.Lock.Holder != st.Holder {
		return nil, nil
	}
	return st, nil
}

// Reconcile asks the running loop for a full reconcile and waits up to
// timeout for its answer; asked hears which loop was asked, before the
// wait. No loop running, or a suspended one, is bad input.
func (c *Control) Reconcile(ctx context.Context, timeout time.Duration, asked func(holder string)) (*Answer, error) {
	env := c.Env
	st, err := c.Running(ctx)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return nil, errs.Inputf("no envctl sync or daemon runs for environment %s; start one (envctl sync %s), or apply once with envctl apply %s", env, env, env)
	}
	if st.Suspended {
		return nil, errs.Inputf("environment %s is suspended; resume it first (envctl resume %s)", env, env)
	}
	token, err := c.Store.RequestReconcile(ctx, env)
	if err != nil {
		return nil, err
	}
	asked(st.Holder)
	ans, err := c.Wait(ctx, timeout, func(st *Status) bool {
		return st.Reconcile != nil && st.Reconcile.Token == token
	})
	if err != nil {
		return nil, err
	}
	return ans.Reconcile, nil
}

// SetSuspended records the pause (or its end) and, when a loop runs, waits
// up to timeout until it has acknowledged it. It returns the status of the
// loop that acknowledged; nil when none runs.
func (c *Control) SetSuspended(ctx context.Context, suspend bool, timeout time.Duration) (*Status, error) {
	if err := c.Store.SetSuspended(ctx, c.Env, suspend); err != nil {
		return nil, err
	}
	st, err := c.Running(ctx)
	if err != nil || st == nil {
		return nil, err
	}
	if _, err := c.Wait(ctx, timeout, func(st *Status) bool { return st.Suspended == suspend }); err != nil {
		return nil, err
	}
	return st, nil
}

// Wait polls the record until done says so, or timeout passes (a timeout
// error).
func (c *Control) Wait(ctx context.Context, timeout time.Duration, done func(*Status) bool) (*Status, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		cm, err := c.Store.Get(ctx, c.Env)
		if err == nil {
			st, serr := StatusOf(cm)
			if serr == nil && st != nil && done(st) {
				return st, nil
			}
		}
		select {
		case <-ctx.Done():
			if errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
				return nil, errs.Timeout(fmt.Errorf("no answer from the sync or daemon of environment %s within %s", c.Env, timeout))
			}
			return nil, ctx.Err()
		case <-time.After(pollInterval):
		}
	}
}

// Err is the error of a failed reconcile, of the kind the loop reported
// (so that `envctl reconcile` exits as the reconcile did); nil when it
// succeeded.
func (a *Answer) Err(env string) error {
	if a.Succeeded {
		return nil
	}
	return errs.New(kindNamed(a.ErrorKind), fmt.Errorf("reconcile of environment %s failed: %s", env, a.Error))
}

// kindNamed maps errs.Kind's name back to the kind.
func kindNamed(name string) errs.Kind {
	for k := errs.KindUnknown; k <= errs.KindUnhealthy; k++ {
		if k.String() == name {
			return k
		}
	}
	return errs.KindUnknown
}
