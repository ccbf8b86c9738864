package loop

import (
	"context"
	"sync"
	"time"

	"github.com/envctl/envctl/internal/object"
)

// item is a queued object: when its drift was first seen (the start of the
// correction latency) and when it may be handled (its backoff).
type item struct {
	first     time.Time
	notBefore time.Time
}

// queue holds the objects to check, each at most once, and hands each to
// one worker at a time: events for an object being corrected wait until
// that correction is done.
type queue struct {
	mu     sync.Mutex
	items  map[object.Key]item
	busy   map[object.Key]bool
	wake   chan struct{}
	closed bool
	stop   chan struct{}
}

func newQueue() *queue {
	return &queue{items: map[object.Key]item{}, busy: map[object.Key]bool{}, wake: make(chan struct{}, 1), stop: make(chan struct{})}
}

// add queues key, seen drifting at at; an object already queued keeps its
// first sighting and becomes due now.
func (q *queue) add(key object.Key, at time.Time) {
	q.mu.Lock()
	it, ok := q.items[key]
	if !ok || at.Before(it.first) {
		it.first = at
	}
	it.notBefore = time.Time{}
	q.items[key] = it
	q.mu.Unlock()
	q.signal()
}

// later queues key to be handled at notBefore, unless an event made it
// due sooner.
func (q *queue) later(key object.Key, first, notBefore time.Time) {
	q.mu.Lock()
	if _, ok := q.items[key]; !ok {
		q.items[key] = item{first: first, notBefore: notBefore}
	}
	q.mu.Unlock()
	q.signal()
}

func (q *queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// next waits for a due object that no worker holds and hands it out.
func (q *queue) next(ctx context.Context) (object.Key, item, bool) {
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return object.Key{}, item{}, false
		}
		now := time.Now()
		var soonest time.Time
		for key, it := range q.items {
			if q.busy[key] {
				continue
			}
			if !it.notBefore.After(now) {
				delete(q.items, key)
				q.busy[key] = true
				q.mu.Unlock()
				q.signal() // another worker may take the next one
				return key, it, true
			}
			if soonest.IsZero() || it.notBefore.Before(soonest) {
				soonest = it.notBefore
			}
		}
		q.mu.Unlock()
		var tick <-chan time.Time
		var t *time.Timer
		if !soonest.IsZero() {
			t = time.NewTimer(time.Until(soonest))
			tick = t.C
		}
		select {
		case <-ctx.Done():
		case <-q.stop:
		case <-q.wake:
		case <-tick:
		}
		if t != nil {
			t.Stop()
		}
		if ctx.Err() != nil {
			return object.Key{}, item{}, false
		}
	}
}

// done releases key after a worker handled it.
func (q *queue) done(key object.Key) {
	q.mu.Lock()
	delete(q.busy, key)
	_, again := q.items[key]
	q.mu.Unlock()
	if again {
		q.signal()
	}
}

// close makes next return false, so workers stop after their current item.
func (q *queue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		close(q.stop)
	}
}

// len is how many objects wait.
func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}
