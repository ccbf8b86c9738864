// Package render turns an environment's declared components into Kubernetes
// objects: kustomize overlays built with the kustomize API and Helm charts
// rendered client-side, as `helm template` does. It is the stage of the
// pipeline between the source snapshot and the plan.
//
// Rendering is pure and offline by default: no remote kustomize bases, no
// DNS or cluster lookups from chart templates, and no file read outside the
// repository root. Remote charts are pulled once into a cache. The output is
// deterministic: the same snapshot renders to the same objects in the same
// order, whatever the concurrency.
package render

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chartutil"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/source"
)

// DefaultConcurrency is how many components render at once when the
// settings do not say.
const DefaultConcurrency = 4

// Options say what to render and how.
type Options struct {
	// Source is the repository snapshot; every path is confined to its root.
	Source *source.Snapshot
	// Environment is the environment to render.
	Environment *config.Environment
	// Settings are the repo-wide render settings.
	Settings config.RenderSettings
	// Components, when not empty, limits the render to these components.
	Components []string
	// Logger receives progress at debug and info level; nil discards.
	Logger *slog.Logger
	// ChartCacheDir holds charts pulled from repositories and registries;
	// empty means DefaultChartCacheDir.
	ChartCacheDir string
	// Cluster serves the `lookup` function of chart templates when
	// Settings.AllowChartLookup is set. Without it lookups return nothing,
	// as in `helm template`.
	Cluster action.RESTClientGetter
}

// renderer holds what the components of one render share.
type renderer struct {
	opts        Options
	src         *source.Snapshot
	env         *config.Environment
	settings    config.RenderSettings
	log         *slog.Logger
	charts      *chartCache
	kubeVersion *chartutil.KubeVersion
	apiVersions chartutil.VersionSet
}

// Render renders the environment's components. Components render
// concurrently; their failures are all reported, joined, in component order.
func Render(ctx context.Context, opts Options) (*Result, error) {
	r, err := newRenderer(opts)
	if err != nil {
		return nil, err
	}
	comps, err := r.selectComponents()
	if err != nil {
		return nil, err
	}

	results := make([]*Component, len(comps))
	failures := make([]error, len(comps))
	limit := r.settings.Concurrency
	if limit <= 0 {
		limit = DefaultConcurrency
	}
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i, c := range comps {
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				failures[i] = ctx.Err()
				return
			}
			defer func() { <-sem }()
			results[i], failures[i] = r.renderComponent(ctx, c)
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("render %s: %w", r.env.Metadata.Name, err)
	}
	var failed []error
	for i, err := range failures {
		if err != nil {
			failed = append(failed, fmt.Errorf("component %s: %w", comps[i].Name, err))
		}
	}
	if len(failed) > 0 {
		return nil, joinFailures(failed)
	}

	if err := r.finish(results); err != nil {
		return nil, err
	}
	return &Result{Environment: r.env.Metadata.Name, Revision: r.src.Revision, Components: results}, nil
}

func newRenderer(opts Options) (*renderer, error) {
	if opts.Source == nil || opts.Environment == nil {
		return nil, errors.New("render: a source snapshot and an environment are required")
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("environment", opts.Environment.Metadata.Name)
	cacheDir := opts.ChartCacheDir
	if cacheDir == "" {
		d, err := DefaultChartCacheDir()
		if err != nil {
			return nil, err
		}
		cacheDir = d
	}
	r := &renderer{
		opts:     opts,
		src:      opts.Source,
		env:      opts.Environment,
		settings: opts.Settings,
		log:      log,
		charts:   newChartCache(cacheDir, log),
	}
	if v := opts.Settings.KubeVersion; v != "" {
		kv, err := chartutil.ParseKubeVersion(v)
		if err != nil {
			return nil, errs.Inputf("render.kubeVersion %q: %v", v, err)
		}
		r.kubeVersion = kv
	}
	return r, nil
}

// selectComponents returns the components to render in the order of the
// result: the environment's dependsOn layers in turn, by name within one.
func (r *renderer) selectComponents() ([]config.Component, error) {
	layers, err := r.env.Order()
	if err != nil {
		return nil, err
	}
	ordered := make([]config.Component, 0, len(r.env.Spec.Components))
	for _, layer := range layers {
		for _, name := range layer {
			ordered = append(ordered, *r.env.Component(name))
		}
	}
	if len(r.opts.Components) == 0 {
		return ordered, nil
	}
	want := map[string]bool{}
	var unknown []string
	for _, n := range r.opts.Components {
		if !slices.ContainsFunc(ordered, func(c config.Component) bool { return c.Name == n }) {
			unknown = append(unknown, n)
		}
		want[n] = true
	}
	if len(unknown) > 0 {
		known := make([]string, 0, len(ordered))
		for _, c := range ordered {
			known = append(known, c.Name)
		}
		slices.Sort(known)
		where := r.env.Metadata.Name
		if r.env.File != "" {
			where = fmt.Sprintf("%s (%s)", where, r.env.File)
		}
		return nil, errs.Inputf("unknown component %s in environment %s; known components: %s",
			quoteList(unknown), where, strings.Join(known, ", "))
	}
	var out []config.Component
	for _, c := range ordered {
		if want[c.Name] {
			out = append(out, c)
		}
	}
	return out, nil
}

// renderComponent builds one component's objects, without the labels,
// namespaces and order that finish adds once every component is rendered.
func (r *renderer) renderComponent(ctx context.Context, c config.Component) (*Component, error) {
	log := r.log.With("component", c.Name)
	out := &Component{Name: c.Name, DependsOn: slices.Clone(c.DependsOn)}
	switch {
	case c.Kustomize != "" && c.Helm != nil:
		return nil, errs.Inputf("declares both kustomize and helm; a component is one or the other")
	case c.Kustomize != "":
		log.Debug("building kustomization", "dir", c.Kustomize)
		objs, err := r.buildKustomize(ctx, c.Kustomize)
		if err != nil {
			return nil, err
		}
		out.Objects = objs
	case c.Helm != nil:
		rel := c.Helm.Release
		if rel == "" {
			rel = c.Name
		}
		ns := c.Helm.Namespace
		if ns == "" {
			ns = DefaultReleaseNamespace
		}
		log.Debug("rendering chart", "chart", c.Helm.Chart, "release", rel, "namespace", ns)
		h, err := r.buildHelm(ctx, c, rel, ns, log)
		if err != nil {
			return nil, err
		}
		out.Objects, out.Hooks, out.Namespace = h.objects, h.hooks, ns
	default:
		return nil, errs.Inputf("declares neither kustomize nor helm")
	}
	log.Info("rendered component", "objects", len(out.Objects), "hooks", len(out.Hooks))
	return out, nil
}

// finish completes the rendered components together, since namespace
// defaulting needs the CRDs of the whole render and duplicates are found
// across components: it gives Helm objects their release namespace, adds the
// ownership labels, sorts, and refuses an object declared twice.
func (r *renderer) finish(comps []*Component) error {
	var all []*unstructured.Unstructured
	for _, c := range comps {
		all = append(all, c.Objects...)
	}
	sc := newScopes(all)

	owner := map[ObjectID]string{}
	var dups []error
	for _, c := range comps {
		objs := slices.Clone(c.Objects)
		for _, h := range c.Hooks {
			objs = append(objs, h.Object)
		}
		for _, o := range objs {
			if c.Namespace != "" && o.GetNamespace() == "" && sc.of(o.GroupVersionKind().GroupKind()) == ScopeNamespaced {
				o.SetNamespace(c.Namespace)
			}
			r.label(o, c.Name)
			id := IDOf(o)
			if prev, ok := owner[id]; ok {
				if prev == c.Name {
					dups = append(dups, errs.Inputf("object %s is emitted twice by component %s", id, c.Name))
				} else {
					dups = append(dups, errs.Inputf("object %s is emitted by two components, %s and %s; each object must belong to one component", id, prev, c.Name))
				}
				continue
			}
			owner[id] = c.Name
		}
		slices.SortFunc(c.Objects, CompareObjects)
		slices.SortFunc(c.Hooks, compareHooks)
	}
	if len(dups) > 0 {
		return joinFailures(dups)
	}
	return nil
}

// label adds the ownership labels to the object's own metadata. Selectors and
// pod templates are left alone: changing them would change which pods a
// workload owns.
func (r *renderer) label(o *unstructured.Unstructured, component string) {
	labels := o.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[LabelManagedBy] = ManagedByValue
	labels[LabelEnvironment] = r.env.Metadata.Name
	labels[LabelComponent] = component
	o.SetLabels(labels)
}

// compareHooks orders hooks by their first phase, then weight (as Helm runs
// them), then kind order and identity.
func compareHooks(a, b *Hook) int {
	if d := slices.Index(phaseOrder, a.Phases[0]) - slices.Index(phaseOrder, b.Phases[0]); d != 0 {
		return d
	}
	if a.Weight != b.Weight {
		if a.Weight < b.Weight {
			return -1
		}
		return 1
	}
	return CompareObjects(a.Object, b.Object)
}

// joinFailures joins errors, keeping the result classified as bad input when
// every one of them is.
func joinFailures(errList []error) error {
	joined := errors.Join(errList...)
	for _, e := range errList {
		if errs.KindOf(e) != errs.KindInput {
			return joined
		}
	}
	return errs.Input(joined)
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}
