package engine

import (
	"context"
	"errors"
	"slices"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/envctl/envctl/internal/cluster/embedded/webhooks"
	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/ownership"
	"github.com/envctl/envctl/internal/render"
)

// errOffline is the error of a verb that needs a cluster, on an engine
// without one.
var errOffline = errors.New("engine: no cluster")

// Reconcile brings the cluster to the declared state and returns what it
// did: up, apply, sync and the daemon all run it. The error is nil only
// when every component applied and became healthy and prune (if it ran)
// succeeded; it is classified (errs) by the first problem, for the exit
// code.
func (e *Engine) Reconcile(ctx context.Context, req Request) (*Result, error) {
	if err := req.Policy.Validate(); err != nil {
		return nil, err
	}
	if e.client == nil {
		return nil, errOffline
	}
	d := req.Declared
	var used *Rendering
	var warnings []string
	res, err := reconcile(ctx, runOptions{
		Policy:         req.Policy,
		Environment:    d.Env,
		Settings:       d.Settings(),
		Revision:       d.Revision(),
		Repository:     d.Repository(),
		Client:         e.client,
		State:          e.state,
		ServiceAccount: e.serviceAccount,
		SecretKey:      e.secretKey,
		OnEvent:        req.OnEvent,
		Logger:         e.log,
		Render: func(ctx context.Context, prev *inventory.Inventory) (*render.Result, error) {
			r := req.Rendered
			if r == nil || r.Declared != d || !slices.Equal(r.Components, req.Policy.Components) || !r.fresh(prev) {
				var err error
				if r, err = e.render(ctx, d, req.Policy.Components, prev, nil); err != nil {
					return nil, err
				}
			}
			used = r
			warnings = e.skippedWebhooks(ctx, r.Result)
			return r.Result, nil
		},
		RenderAll: func(ctx context.Context, prev *inventory.Inventory) (*render.Result, error) {
			r, err := e.render(ctx, d, nil, prev, nil)
			if err != nil {
				return nil, err
			}
			return r.Result, nil
		},
	})
	if res != nil {
		res.Rendered, res.Warnings = used, warnings
	}
	return res, err
}

// Installation is a fixed set of objects applied as an environment of
// their own, with one component.
type Installation struct {
	Environment, Component string
	// Revision is recorded in the installation's inventory.
	Revision string
	Objects  []*unstructured.Unstructured
}

// Install applies an installation: its own inventory, health wait and
// prune, so that a second install that changes nothing writes nothing.
// `daemon install` applies the daemon's objects this way, with the
// settings of the declared repository whose environment the daemon runs.
func (e *Engine) Install(ctx context.Context, req Request, inst Installation) (*Result, error) {
	if err := req.Policy.Validate(); err != nil {
		return nil, err
	}
	if e.client == nil {
		return nil, errOffline
	}
	settings := req.Declared.Settings()
	env := &config.Environment{
		Metadata: config.Metadata{Name: inst.Environment},
		Spec:     config.EnvironmentSpec{Components: []config.Component{{Name: inst.Component}}},
	}
	env.ApplyDefaults(settings)
	for _, obj := range inst.Objects {
		labels := obj.GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		labels[ownership.LabelManagedBy] = ownership.ManagedByValue
		labels[ownership.LabelEnvironment] = inst.Environment
		labels[ownership.LabelComponent] = inst.Component
		obj.SetLabels(labels)
	}
	rendered := &render.Result{Environment: inst.Environment, Components: []*render.Component{{Name: inst.Component, Objects: inst.Objects}}}
	return reconcile(ctx, runOptions{
		Policy:      req.Policy,
		Environment: env,
		Settings:    settings,
		Revision:    inst.Revision,
		Client:      e.client,
		SecretKey:   e.secretKey,
		OnEvent:     req.OnEvent,
		Logger:      e.log,
		Render:      func(context.Context, *inventory.Inventory) (*render.Result, error) { return rendered, nil },
	})
}

// skippedWebhooks returns one warning for each webhook of rendered that the
// cluster's API server skips: the webhooks only a pod could serve, on an
// embedded cluster with webhooks: skip. The cluster is asked only when the
// render has such webhooks, so other runs make no extra request.
func (e *Engine) skippedWebhooks(ctx context.Context, rendered *render.Result) []string {
	var objs []*unstructured.Unstructured
	for _, c := range rendered.Components {
		objs = append(objs, c.Objects...)
		for _, h := range c.Hooks {
			objs = append(objs, h.Object)
		}
	}
	found := webhooks.Find(objs)
	if len(found) == 0 {
		return nil
	}
	policy, embedded, err := webhooks.Policy(ctx, e.client.Clientset.Discovery().RESTClient())
	if err != nil {
		e.log.Debug("webhook policy not known", "err", err)
		return nil
	}
	if !embedded || policy != webhooks.Skip {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	for _, w := range found {
		if msg := w.Skipped(); !seen[msg] {
			seen[msg] = true
			out = append(out, msg)
		}
	}
	return out
}
