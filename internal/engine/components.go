package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/envctl/envctl/internal/apply"
	"github.com/envctl/envctl/internal/health"
	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/object"
	"github.com/envctl/envctl/internal/ownership"
	"github.com/envctl/envctl/internal/render"
	"github.com/envctl/envctl/internal/testhook"
)

// defaultTimeout is the health timeout when neither the component nor the
// settings give one.
const defaultTimeout = 5 * time.Minute

// maxLiveAge is how old the live objects read for every component at once
// may be when a component starts. A component that starts later (it waited
// for its dependencies to become healthy) reads its own, so that what it
// finds unchanged was unchanged moments before, as when each component
// listed for itself.
const maxLiveAge = 2 * time.Second

// applyComponents runs every rendered component as soon as the components
// it depends on are done, so independent components proceed side by side.
// A component whose dependency failed or was skipped is skipped, with the
// reason; the others are not held up by it.
func (r *run) applyComponents(ctx context.Context, rendered *render.Result, prev *inventory.Inventory) {
	comps := rendered.Components
	inRun := map[string]bool{}
	for _, c := range comps {
		inRun[c.Name] = true
	}
	previous := map[object.Key]apply.Recorded{}
	if prev != nil {
		for _, e := range prev.Entries {
			previous[e.Key()] = apply.Recorded{Digest: e.Digest, Fields: e.Fields}
		}
	}

	live := r.readLive(ctx, comps)
	testhook.Reached(ctx, testhook.LiveRead)

	results := make([]ComponentResult, len(comps))
	done := make(map[string]chan struct{}, len(comps))
	states := make(map[string]State, len(comps))
	var mu sync.Mutex
	for _, c := range comps {
		done[c.Name] = make(chan struct{})
	}
	var wg sync.WaitGroup
	for i, c := range comps {
		wg.Go(func() {
			defer close(done[c.Name])
			var blocked []string
			for _, d := range c.DependsOn {
				if !inRun[d] {
					// Outside a --component run: taken as already applied.
					continue
				}
				select {
				case <-done[d]:
				case <-ctx.Done():
				}
				mu.Lock()
				st := states[d]
				mu.Unlock()
				if st != Healthy && st != Applied {
					blocked = append(blocked, fmt.Sprintf("%s %s", d, orUnfinished(st)))
				}
			}
			var res ComponentResult
			switch {
			case len(blocked) > 0:
				res = ComponentResult{Name: c.Name, State: Skipped, Reason: "dependency " + joinAnd(blocked)}
				r.emit(Event{Type: ComponentDone, Component: c.Name, State: Skipped, Message: res.Reason})
			case ctx.Err() != nil:
				res = ComponentResult{Name: c.Name, State: Skipped, Reason: "interrupted"}
				r.emit(Event{Type: ComponentDone, Component: c.Name, State: Skipped, Message: res.Reason})
			default:
				l := live
				if l != nil && time.Since(l.ReadAt()) > maxLiveAge {
					l = nil
				}
				res = r.runComponent(ctx, c, prev, previous, l)
			}
			mu.Lock()
			states[c.Name] = res.State
			mu.Unlock()
			results[i] = res
		})
	}
	wg.Wait()
	r.result.Components = results
}

// readLive reads the live objects of every component at once, one LIST
// per kind, for the unchanged checks of all components. It reads the objects
// of every environment (liveSelector), so that the apply sees an object
// labelled for another environment and does not take it over. A failure is
// not the run's: each component then lists its own objects, and reports the
// failure if it persists.
func (r *run) readLive(ctx context.Context, comps []*render.Component) *apply.Live {
	var objs []*unstructured.Unstructured
	for _, c := range comps {
		objs = append(objs, c.Objects...)
	}
	if len(objs) == 0 {
		return nil
	}
	live, err := r.applier.ReadLive(ctx, objs, liveSelector)
	if err != nil {
		r.log.Debug("reading the live objects of every component at once failed; each component reads its own", "err", err)
		return nil
	}
	return live
}

func orUnfinished(s State) string {
	if s == "" {
		return "did not finish"
	}
	if s == Failed {
		return "failed"
	}
	return "was " + string(s)
}

func joinAnd(items []string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	default:
		return fmt.Sprintf("%s and %s", joinComma(items[:len(items)-1]), items[len(items)-1])
	}
}

func joinComma(items []string) string {
	out := ""
	for i, s := range items {
		if i > 0 {
			out += ", "
		}
		out += s
	}
	return out
}

// component runs one component: pre hooks, apply, health, post hooks.
func (r *run) component(ctx context.Context, c *render.Component, prev *inventory.Inventory, previous map[object.Key]apply.Recorded, live *apply.Live) ComponentResult {
	start := time.Now()
	res := ComponentResult{Name: c.Name}
	r.emit(Event{Type: ComponentStarted, Component: c.Name, Objects: len(c.Objects), Message: plural(len(c.Objects), "object")})
	finish := func(state State, err error) ComponentResult {
		res.State = state
		res.Duration = time.Since(start)
		if err != nil {
			res.Err = err
			res.Reason = err.Error()
			r.fail(fmt.Errorf("component %s: %w", c.Name, err))
		}
		r.emit(Event{Type: ComponentDone, Component: c.Name, State: state, Counts: res.Counts, Err: err})
		return res
	}

	upgrade := prev.Has(c.Name)
	pre, post := render.PreInstall, render.PostInstall
	if upgrade {
		pre, post = render.PreUpgrade, render.PostUpgrade
	}
	timeout := r.timeout(c.Name)
	sel := r.selector(c.Name)

	// Pre hooks run just before the first write: an upgrade with nothing to
	// write runs no hook, so that a second reconcile changes nothing.
	hooksRan := false
	runPre := func(ctx context.Context) error {
		hooksRan = true
		return r.runHooks(ctx, c, pre, timeout, &res)
	}
	if len(c.Objects) == 0 && !upgrade {
		if err := runPre(ctx); err != nil {
			return finish(Failed, err)
		}
	}
	cs, err := r.applier.Apply(ctx, c.Objects, apply.Options{
		Selector:       liveSelector,
		Environment:    r.env,
		Adopt:          r.opts.Adopt,
		Live:           live,
		Previous:       previous,
		ForceConflicts: r.opts.ForceConflicts,
		ForceRecreate:  r.opts.ForceRecreate,
		CRDTimeout:     min(timeout, apply.DefaultOptions().CRDTimeout),
		DeleteTimeout:  timeout,
		OnChange:       func(ch apply.Change) { r.emit(objectEvent(c.Name, ch)) },
		BeforeWrite:    runPre,
	})
	res.Changes = cs.Changes
	res.Counts = countChanges(cs)
	if err != nil {
		return finish(Failed, err)
	}

	state := Applied
	if r.waitFor(c.Name) {
		testhook.Reached(ctx, testhook.Health)
		_, err := r.checker.Wait(ctx, objectsOf(cs), health.Options{
			Timeout:  timeout,
			Selector: sel,
			OnWaiting: func(p []health.ObjectStatus) {
				r.emit(Event{Type: Waiting, Component: c.Name, Pending: p})
			},
		})
		if err != nil {
			var nr *health.NotReadyError
			if errors.As(err, &nr) {
				res.NotReady = nr.Objects
			}
			return finish(Failed, err)
		}
		state = Healthy
	}
	if hooksRan || cs.Wrote() || !upgrade {
		if err := r.runHooks(ctx, c, post, timeout, &res); err != nil {
			return finish(Failed, err)
		}
	}
	return finish(state, nil)
}

// timeout is the component's health timeout: --timeout, then the
// component's own, then apply.timeout.
func (r *run) timeout(component string) time.Duration {
	if r.opts.Timeout > 0 {
		return r.opts.Timeout
	}
	if c := r.opts.Environment.Component(component); c != nil && c.Timeout.Duration > 0 {
		return c.Timeout.Duration
	}
	if t := r.opts.Settings.Apply.Timeout.Duration; t > 0 {
		return t
	}
	return defaultTimeout
}

func (r *run) waitFor(component string) bool {
	if r.opts.NoWait {
		return false
	}
	c := r.opts.Environment.Component(component)
	return c == nil || c.WaitEnabled()
}

// liveSelector finds the live objects of every environment: the apply reads
// them all, so that it sees an object another environment owns.
const liveSelector = ownership.AnyEnvironment

// selector finds the live objects of one component of this environment.
func (r *run) selector(component string) string {
	return ownership.Component(r.env, component)
}

func countChanges(cs *apply.ChangeSet) Counts {
	return Counts{
		Created:    cs.Count(apply.Created),
		Configured: cs.Count(apply.Configured),
		Unchanged:  cs.Count(apply.Unchanged),
		Recreated:  cs.Count(apply.Recreated),
		Failed:     cs.Count(apply.Failed),
	}
}

func objectsOf(cs *apply.ChangeSet) []*unstructured.Unstructured {
	out := make([]*unstructured.Unstructured, 0, len(cs.Changes))
	for _, c := range cs.Changes {
		if c.Object != nil {
			out = append(out, c.Object)
		}
	}
	return out
}

// plural writes "1 object" or "3 objects".
func plural(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
