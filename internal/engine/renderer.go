package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/kube"
	"github.com/envctl/envctl/internal/render"
	"github.com/envctl/envctl/internal/testhook"
)

// Rendering is a render of the declared state, with what it was rendered
// against: the components whose releases rendered as upgrades.
type Rendering struct {
	Declared *Declared
	// Components is the selection rendered; empty for all.
	Components []string
	Result     *render.Result
	// installed are the rendered components that the inventory held, whose
	// Helm releases rendered with .Release.IsUpgrade.
	installed map[string]bool
}

// Render renders the request's declared state, as its verbs do: on an
// engine with a cluster, for that cluster's version and API versions, with
// the releases the inventory holds rendered as upgrades; offline for the
// cluster the environment would get, every release an install.
func (e *Engine) Render(ctx context.Context, req Request) (*Rendering, error) {
	prev := req.Applied
	if e.client != nil && prev == nil {
		var err error
		prev, err = inventory.NewStore(e.State()).Load(ctx, req.Declared.Env.Name())
		if err != nil && !errors.Is(err, inventory.ErrNotFound) {
			return nil, fmt.Errorf("load the inventory of environment %s: %w", req.Declared.Env.Name(), err)
		}
	}
	return e.render(ctx, req.Declared, req.Policy.Components, prev, req.Shared)
}

// render is the one place that turns the declared state into render
// options: every verb and the loop render through it. shared, when set, is
// shared with the other renders of a preview.
func (e *Engine) render(ctx context.Context, d *Declared, components []string, prev *inventory.Inventory, shared *render.Shared) (*Rendering, error) {
	if err := e.checkServiceAccount(d); err != nil {
		return nil, err
	}
	caps, err := e.capabilities(ctx, d.Env, components)
	if err != nil {
		return nil, err
	}
	installed := installedOf(d.Env, components, prev)
	opts := render.Options{
		Source:            d.Snapshot,
		Environment:       d.Env,
		Settings:          d.Settings().Render,
		Components:        components,
		Logger:            e.log,
		ChartCacheDir:     e.charts,
		DecryptionKeyFile: e.keyFile,
		SOPSKeyServices:   e.keySvcs,
		Credentials:       e.creds,
		Capabilities:      caps,
		Installed:         func(c string) bool { return installed[c] },
		Shared:            shared,
	}
	if e.client != nil {
		// Lookups are served only with render.allowChartLookup; the Secret
		// values they read are masked wherever a plan shows them.
		opts.Cluster = render.ClusterLookup(e.lookupConfig())
	}
	res, err := render.Render(ctx, opts)
	if err != nil {
		// Render scrubs what it decrypted; what chart lookups read from
		// the cluster's Secrets is known here.
		return nil, render.Scrub(err, e.sensitive())
	}
	recordRender(res, installed)
	return &Rendering{Declared: d, Components: slices.Clone(components), Result: res, installed: installed}, nil
}

// lookupConfig is the configuration chart lookups read the cluster with:
// it records the Secret values they see (Sensitive).
func (e *Engine) lookupConfig() *rest.Config {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.lookup == nil {
		e.lookup, e.recorded = kube.RecordSecrets(e.client.Config)
	}
	return e.lookup
}

// sensitive are the Secret values chart lookups have read so far, which a
// plan masks wherever they land.
func (e *Engine) sensitive() []string {
	e.mu.Lock()
	rec := e.recorded
	e.mu.Unlock()
	if rec == nil {
		return nil
	}
	return rec.Values()
}

// fresh says whether r still renders what the environment would render
// with prev: the same releases are upgrades.
func (r *Rendering) fresh(prev *inventory.Inventory) bool {
	return maps.Equal(r.installed, installedOf(r.Declared.Env, r.Components, prev))
}

// installedOf lists the Helm releases among the components (all when none
// are named) that prev holds: they render as upgrades.
func installedOf(env *config.Environment, components []string, prev *inventory.Inventory) map[string]bool {
	out := map[string]bool{}
	for _, c := range env.Spec.Components {
		if c.Helm != nil && selected(components, c.Name) && prev.Has(c.Name) {
			out[c.Name] = true
		}
	}
	return out
}

func selected(components []string, name string) bool {
	return len(components) == 0 || slices.Contains(components, name)
}

// capabilities are the cluster's version and API versions, discovered once
// and kept, when a Helm release among the components renders against them;
// nil otherwise (nothing else needs them, and a reconcile with nothing to
// do would pay three requests), and nil on an offline engine, which
// renders for the cluster the environment would get.
func (e *Engine) capabilities(ctx context.Context, env *config.Environment, components []string) (*render.Capabilities, error) {
	if e.client == nil || !hasRelease(env, components) {
		return nil, nil
	}
	e.mu.Lock()
	caps := e.caps
	e.mu.Unlock()
	if caps != nil {
		return caps, nil
	}
	caps, err := render.Discover(ctx, e.client.Clientset.Discovery())
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	e.caps = caps
	e.mu.Unlock()
	return caps, nil
}

// RefreshCapabilities forgets the discovered capabilities, so that the next
// render asks the cluster again; the loop calls it when the cluster's
// served APIs change. It reports whether any had been discovered.
func (e *Engine) RefreshCapabilities() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	had := e.caps != nil
	e.caps = nil
	return had
}

// hasRelease says whether a Helm release is among the components (all of
// them when none are named).
func hasRelease(env *config.Environment, components []string) bool {
	for _, c := range env.Spec.Components {
		if c.Helm != nil && selected(components, c.Name) {
			return true
		}
	}
	return false
}

// recordRender lets envctl's process-level tests see what each command
// rendered: per component, a digest of its objects, hooks and tests, and
// whether its release rendered as an upgrade (testhook.Record; nothing
// outside test binaries).
func recordRender(res *render.Result, installed map[string]bool) {
	if !testhook.Recording() {
		return
	}
	for _, c := range res.Components {
		h := sha256.New()
		for _, o := range c.Objects {
			writeObject(h, "object", o)
		}
		for _, hk := range c.Hooks {
			writeObject(h, "hook", hk.Object)
		}
		for _, t := range c.Tests {
			writeObject(h, "test", t.Object)
		}
		testhook.Record("render", fmt.Sprintf("%s %s %d upgrade=%v", c.Name, hex.EncodeToString(h.Sum(nil)), len(c.Objects), installed[c.Name]))
	}
}

func writeObject(w io.Writer, what string, o *unstructured.Unstructured) {
	data, _ := json.Marshal(o.Object)
	fmt.Fprintf(w, "%s %d %s\n", what, len(data), data)
}
