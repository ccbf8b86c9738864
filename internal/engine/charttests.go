package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/render"
)

// TestResult is one chart test that ran.
type TestResult struct {
	Component string `json:"component"`
	Object    string `json:"object"`
	Passed    bool   `json:"passed"`
	Error     string `json:"error,omitempty"`
}

// Test runs the test hooks of the environment's charts (helm.sh/hook:
// test), as `helm test` does: each test Pod or Job is created, waited for
// until it finished, and deleted as its delete policy says, one after the
// other, components in apply order. The environment must be up, from this
// repository: its releases render as the upgrades they are. The policy's timeout bounds
// each test. The error is the first failure, unhealthy unless classified
// otherwise.
func (e *Engine) Test(ctx context.Context, req Request) ([]TestResult, error) {
	if e.client == nil {
		return nil, errOffline
	}
	d := req.Declared
	prev, err := inventory.NewStore(e.State()).Load(ctx, d.Env.Name())
	if errors.Is(err, inventory.ErrNotFound) {
		return nil, errs.Inputf("environment %s is not up in this cluster: bring it up with `envctl up %s` before testing it", d.Env.Name(), d.Env.Name())
	}
	if err != nil {
		return nil, err
	}
	if err := CheckRepository(prev, d.Repository(), req.Policy.Adopt); err != nil {
		return nil, err
	}
	r, err := e.render(ctx, d, req.Policy.Components, prev, nil)
	if err != nil {
		return nil, err
	}
	timeout := req.Policy.Timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	hooks := e.hookRun(req)
	results := []TestResult{}
	var failed error
	for _, c := range r.Result.Components {
		if len(hooksFor(&render.Component{Hooks: c.Tests}, render.Test)) == 0 {
			continue
		}
		var cr ComponentResult
		err := hooks.runHooks(ctx, &render.Component{Name: c.Name, Hooks: c.Tests}, render.Test, timeout, &cr)
		for _, h := range cr.Hooks {
			results = append(results, TestResult{Component: c.Name, Object: h.Object, Passed: h.Error == "", Error: h.Error})
		}
		if err != nil {
			if failed == nil {
				failed = fmt.Errorf("component %s: %w", c.Name, err)
			}
			if ctx.Err() != nil {
				break
			}
		}
	}
	if failed != nil {
		if errs.KindOf(failed) == errs.KindUnknown {
			failed = errs.Unhealthy(failed)
		}
		return results, fmt.Errorf("environment %s: a test failed: %w", d.Env.Name(), failed)
	}
	return results, nil
}
