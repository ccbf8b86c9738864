package embedded

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// stageStopTimeout bounds the wait for one stage's goroutines at stop. A
// component that overruns it is logged and left behind rather than holding
// up the rest of the shutdown forever.
const stageStopTimeout = 20 * time.Second

// stage is one step of the start sequence: a context shared by goroutines
// started in it, or a close function.
type stage struct {
	name   string
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	close  func()
}

// runner starts the components in stages and stops them in the reverse
// order: the controllers must go before the API server they talk to, and the
// API server before etcd.
type runner struct {
	logger *slog.Logger

	mu       sync.Mutex
	stages   []*stage
	stopOnce sync.Once

	// failed receives the error of a component that returned while its
	// stage was still meant to run.
	failed chan error
}

func newRunner(logger *slog.Logger) *runner {
	return &runner{logger: logger, failed: make(chan error, 16)}
}

// tier begins a stage whose goroutines share the returned context. The
// context is not derived from the caller's: the runner alone decides when
// each stage ends.
func (r *runner) tier(name string) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stages = append(r.stages, &stage{name: name, ctx: ctx, cancel: cancel})
	return ctx
}

// add registers a close function to be called at stop, after every stage
// begun later has stopped.
func (r *runner) add(name string, close func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stages = append(r.stages, &stage{name: name, close: close})
}

// run starts fn in the current tier. fn must return once the tier's context
// is done; returning before that is a failure of the whole control plane.
func (r *runner) run(name string, fn func(ctx context.Context) error) {
	r.mu.Lock()
	s := r.stages[len(r.stages)-1]
	r.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		err := fn(s.ctx)
		if s.ctx.Err() != nil {
			if err != nil {
				r.logger.Debug("component stopped with an error", "component", name, "error", err)
			}
			return
		}
		if err == nil {
			err = fmt.Errorf("%s stopped unexpectedly", name)
		} else {
			err = fmt.Errorf("%s: %w", name, err)
		}
		select {
		case r.failed <- err:
		default:
		}
	}()
}

// failures is the channel of component failures.
func (r *runner) failures() <-chan error { return r.failed }

// stop ends the stages in reverse order and waits for each.
func (r *runner) stop() {
	r.stopOnce.Do(func() {
		r.mu.Lock()
		stages := append([]*stage(nil), r.stages...)
		r.mu.Unlock()
		for i := len(stages) - 1; i >= 0; i-- {
			s := stages[i]
			began := time.Now()
			if s.cancel != nil {
				s.cancel()
				if !waitTimeout(&s.wg, stageStopTimeout) {
					r.logger.Warn("embedded cluster component did not stop in time", "stage", s.name, "timeout", stageStopTimeout)
				}
			}
			if s.close != nil {
				s.close()
			}
			r.logger.Debug("embedded cluster: stopped", "stage", s.name, "elapsed", time.Since(began))
		}
	})
}

// waitTimeout waits for wg, giving up after d.
func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}
