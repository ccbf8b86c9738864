package notify

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// Defaults of the delivery.
const (
	// DefaultRepeat is how long the same state is not sent again.
	DefaultRepeat = 10 * time.Minute
	// Attempts bounds the tries of one notification.
	Attempts = 5
	// queueSize bounds the notifications waiting per target; beyond, new
	// ones are dropped (and counted), never waited for.
	queueSize = 64
	// sendTimeout bounds one try.
	sendTimeout = 15 * time.Second
)

// Results of a notification, as the notifications counter labels them.
const (
	ResultSent        = "sent"
	ResultFailed      = "failed"
	ResultDropped     = "dropped"
	ResultRateLimited = "rate_limited"
)

// Notifier is one target notifications are sent to.
type Notifier interface {
	// Name names the notifier in logs and metrics: github, gitlab,
	// webhook, slack.
	Name() string
	// Target says where it sends, without any secret: a host.
	Target() string
	// Wants says whether the notifier sends e at all.
	Wants(e Event) bool
	// Send delivers e once; a *SendError says whether a retry may help.
	Send(ctx context.Context, e Event) error
}

// Recorder records Kubernetes Events; see KubeEvents.
type Recorder interface {
	Record(e Event)
}

// Hub fans the loop's events out to the Kubernetes Event recorder and to
// each notifier, each with its own queue and worker, so that a slow or
// failing target holds up nothing else.
type Hub struct {
	recorder Recorder
	targets  []*target
	log      *slog.Logger
	wg       sync.WaitGroup
	stop     context.CancelFunc
	// mu keeps Close from closing the queues while Emit sends.
	mu     sync.RWMutex
	closed bool
	once   sync.Once
}

// HubOptions configure a Hub.
type HubOptions struct {
	// Recorder, when set, records Kubernetes Events.
	Recorder  Recorder
	Notifiers []Notifier
	// Repeat is how long the same state is not sent again to a notifier
	// (DefaultRepeat when zero).
	Repeat time.Duration
	// Backoff is the wait before the first retry, doubled for each next
	// (1s when zero).
	Backoff time.Duration
	// Count, when set, counts each notification's result per notifier.
	Count  func(notifier, result string)
	Logger *slog.Logger
}

// NewHub starts the workers of o's notifiers; Close stops them.
func NewHub(o HubOptions) *Hub {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Repeat <= 0 {
		o.Repeat = DefaultRepeat
	}
	if o.Backoff <= 0 {
		o.Backoff = time.Second
	}
	if o.Count == nil {
		o.Count = func(string, string) {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &Hub{recorder: o.Recorder, log: o.Logger, stop: cancel}
	for _, n := range o.Notifiers {
		t := &target{
			n: n, q: make(chan Event, queueSize), repeat: o.Repeat, backoff: o.Backoff,
			count: o.Count, log: o.Logger.With("notifier", n.Name(), "target", n.Target()),
			last: map[string]sent{},
		}
		h.targets = append(h.targets, t)
		h.wg.Go(func() { t.run(ctx) })
	}
	return h
}

// Emit reports e: a Kubernetes Event (not for Progressing) and a
// notification to every notifier that wants it. It never blocks.
func (h *Hub) Emit(e Event) {
	if h == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	if h.recorder != nil && e.Kind != Progressing {
		h.recorder.Record(e)
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.closed {
		return
	}
	for _, t := range h.targets {
		if !t.n.Wants(e) {
			continue
		}
		select {
		case t.q <- e:
		default:
			t.count(t.n.Name(), ResultDropped)
			t.log.Warn("notification dropped: too many waiting", "kind", string(e.Kind))
		}
	}
}

// Close delivers what is queued, for at most grace (the Kubernetes Events
// get at least half a second more), then stops the workers.
func (h *Hub) Close(grace time.Duration) {
	if h == nil {
		return
	}
	start := time.Now()
	h.once.Do(func() {
		h.mu.Lock()
		h.closed = true
		for _, t := range h.targets {
			close(t.q)
		}
		h.mu.Unlock()
		done := make(chan struct{})
		go func() { h.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(grace):
			h.log.Warn("stopping with notifications undelivered", "grace", grace)
			h.stop()
			<-done
		}
		h.stop()
		if c, ok := h.recorder.(interface{ Close(time.Duration) }); ok {
			c.Close(max(grace-time.Since(start), 500*time.Millisecond))
		}
	})
}

// sent is the last state sent on a stream.
type sent struct {
	key string
	at  time.Time
}

// target is one notifier's queue and delivery state.
type target struct {
	n       Notifier
	q       chan Event
	repeat  time.Duration
	backoff time.Duration
	count   func(notifier, result string)
	log     *slog.Logger
	// last is the state last delivered per stream (Event.stream).
	last map[string]sent
}

func (t *target) run(ctx context.Context) {
	for e := range t.q {
		if ctx.Err() != nil {
			t.count(t.n.Name(), ResultDropped)
			continue
		}
		t.deliver(ctx, e)
	}
}

// deliver sends e unless the same state went out within the repeat
// interval, retrying failures that may pass with backoff.
func (t *target) deliver(ctx context.Context, e Event) {
	stream, key := e.stream(), e.key()
	if l, ok := t.last[stream]; ok && l.key == key && time.Since(l.at) < t.repeat {
		t.count(t.n.Name(), ResultRateLimited)
		t.log.Debug("notification not repeated within the repeat interval", "kind", string(e.Kind), "revision", e.Revision)
		return
	}
	wait := t.backoff
	for attempt := 1; ; attempt++ {
		sctx, cancel := context.WithTimeout(ctx, sendTimeout)
		err := t.n.Send(sctx, e)
		cancel()
		if err == nil {
			t.remember(stream, key)
			t.count(t.n.Name(), ResultSent)
			t.log.Debug("notification sent", "kind", string(e.Kind), "attempt", attempt)
			return
		}
		var se *SendError
		final := attempt >= Attempts || ctx.Err() != nil || (errors.As(err, &se) && !se.Retry)
		if final {
			t.count(t.n.Name(), ResultFailed)
			t.log.Error("notification failed; the reconcile is not affected", "kind", string(e.Kind), "attempts", attempt, "err", err)
			return
		}
		t.log.Warn("notification failed; retrying", "kind", string(e.Kind), "attempt", attempt, "in", wait, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// maxStreams bounds the states remembered per notifier; beyond, those
// older than the repeat interval are forgotten.
const maxStreams = 1024

func (t *target) remember(stream, key string) {
	now := time.Now()
	if len(t.last) >= maxStreams {
		for k, l := range t.last {
			if now.Sub(l.at) >= t.repeat {
				delete(t.last, k)
			}
		}
	}
	t.last[stream] = sent{key: key, at: now}
}
