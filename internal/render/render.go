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
	"github.com/envctl/envctl/internal/credential"
	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/object"
	"github.com/envctl/envctl/internal/ownership"
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
	// Capabilities are the target cluster's, read with Discover; nil
	// renders for the cluster the environment would get, without asking
	// it (OfflineCapabilities). Settings.KubeVersion overrides the version.
	Capabilities *Capabilities
	// Installed says which components already have objects in the
	// cluster: their releases render with .Release.IsUpgrade set, as
	// `helm upgrade` would. Nil renders every release as an install.
	Installed func(component string) bool
	// DecryptionKeyFile holds age identities or OpenPGP private keys for
	// the SOPS files of components that decrypt, besides those of
	// SOPS_AGE_KEY and SOPS_AGE_KEY_FILE.
	DecryptionKeyFile string
	// SOPSKeyServices are sops key services (tcp://host:port or
	// unix:///path) asked for the data keys that no local key opens: the
	// operator's, never the repository's.
	SOPSKeyServices []string
	// Credentials are the operator's, by name. A release's
	// helm.repoAuth.credential picks one, which is sent over https to the
	// hosts it is bound to and nowhere else.
	Credentials credential.Set
	// Shared, when set, is shared with other renders (a preview's two
	// sides), which then do the work of a component whose inputs are the
	// same once.
	Shared *Shared
}

// renderer holds what the components of one render share.
type renderer struct {
	opts     Options
	src      *source.Snapshot
	env      *config.Environment
	settings config.RenderSettings
	log      *slog.Logger
	charts   *chartCache
	// caps are the capabilities charts render with, before the
	// environment's CRDs are added.
	caps      *Capabilities
	installed func(component string) bool
	// dec decrypts SOPS files; secrets are the values it decrypted, by
	// component.
	dec       *decrypter
	secretsMu sync.Mutex
	secrets   map[string][]string
	// sopsFiles are the SOPS files each component decrypted.
	sopsFiles map[string][]string
}

// Render renders the environment's components. Components render
// concurrently; their failures are all reported, joined, in component order.
//
// Charts render last, once the CRDs of the whole environment are known, so
// that .Capabilities.APIVersions holds the kinds the environment itself
// defines, as it would once they are installed.
//
// Its errors are scrubbed of the values decrypted from SOPS files and of
// the credentials' passwords (Scrub), since a kustomize or chart error may
// quote what it was given and errors go into logs and the status record.
func Render(ctx context.Context, opts Options) (*Result, error) {
	r, err := newRenderer(ctx, opts)
	if err != nil {
		return nil, Scrub(err, opts.Credentials.Secrets())
	}
	defer r.dec.close()
	res, err := r.render(ctx)
	if err != nil {
		return nil, Scrub(err, r.sensitive())
	}
	return res, nil
}

func (r *renderer) render(ctx context.Context) (*Result, error) {
	comps, extra, err := r.selectComponents()
	if err != nil {
		return nil, err
	}
	if err := r.checkCredentials(comps); err != nil {
		return nil, err
	}
	all := append(slices.Clone(comps), extra...)
	jobs := make([]*job, len(all))
	for i, c := range all {
		jobs[i] = &job{comp: c, context: i >= len(comps), out: &Component{Name: c.Name, DependsOn: slices.Clone(c.DependsOn)}}
	}

	// Everything but the chart templates: kustomize builds, manifest
	// directories, and the charts and values of Helm releases.
	r.each(ctx, jobs, func(j *job) error { return r.sharePrepare(ctx, j) })
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("render %s: %w", r.env.Metadata.Name, err)
	}
	var crds []string
	for _, j := range jobs {
		if j.err != nil {
			continue
		}
		crds = append(crds, crdVersions(j.out.Objects)...)
		if j.helm != nil && j.comp.Helm.CRDsIncluded() {
			crds = append(crds, chartCRDVersions(j.helm.chart)...)
		}
	}
	charts := slices.DeleteFunc(slices.Clone(jobs), func(j *job) bool { return j.helm == nil || j.err != nil })
	r.each(ctx, charts, func(j *job) error { return r.shareTemplate(ctx, j, crds) })

	// A chart's templates may define CRDs themselves; a chart that asks
	// for API versions renders again if they add any.
	var more []string
	for _, j := range charts {
		if j.err == nil {
			for _, v := range crdVersions(j.out.Objects) {
				if !slices.Contains(crds, v) && !slices.Contains(r.caps.APIVersions, v) {
					more = append(more, v)
				}
			}
		}
	}
	if len(more) > 0 {
		crds = append(crds, more...)
		again := slices.DeleteFunc(slices.Clone(charts), func(j *job) bool { return j.err != nil || !usesAPIVersions(j.helm.chart) })
		r.each(ctx, again, func(j *job) error { return r.shareTemplate(ctx, j, crds) })
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("render %s: %w", r.env.Metadata.Name, err)
	}

	var failed []error
	results := make([]*Component, 0, len(comps))
	var others []*Component
	for _, j := range jobs {
		switch {
		case j.context && j.err != nil:
			r.log.Debug("a component outside the selection did not render; what it declares is not known", "component", j.comp.Name, "err", Scrub(j.err, r.sensitive()))
		case j.context:
			others = append(others, j.out)
		case j.err != nil:
			failed = append(failed, fmt.Errorf("component %s: %w", j.comp.Name, j.err))
		default:
			r.log.Info("rendered component", "component", j.comp.Name, "objects", len(j.out.Objects), "hooks", len(j.out.Hooks))
			results = append(results, j.out)
		}
	}
	if len(failed) > 0 {
		return nil, joinFailures(failed)
	}

	// Declared order first, so that "first" means the same in every message.
	if layers, err := r.env.Order(); err == nil {
		rank := map[string]int{}
		for _, l := range layers {
			for _, n := range l {
				rank[n] = len(rank)
			}
		}
		slices.SortStableFunc(results, func(a, b *Component) int { return rank[a.Name] - rank[b.Name] })
	}
	if err := r.finish(results, others); err != nil {
		return nil, err
	}
	r.markDecrypted(results)
	ordered, err := r.order(results)
	if err != nil {
		return nil, err
	}
	return &Result{Environment: r.env.Metadata.Name, Revision: r.src.Revision, Components: ordered, Capabilities: r.caps,
		sensitive: r.sensitive()}, nil
}

// job is one component's render.
type job struct {
	comp config.Component
	// context marks a component rendered only for what it declares
	// (namespaces, CRDs), outside the selection.
	context bool
	out     *Component
	helm    *preparedChart
	err     error
	// scan is a kustomization's, once scanned.
	scan *kscan
}

// each runs fn for every job, at most Settings.Concurrency at once, and
// records each job's error.
func (r *renderer) each(ctx context.Context, jobs []*job, fn func(*job) error) {
	limit := r.settings.Concurrency
	if limit <= 0 {
		limit = DefaultConcurrency
	}
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				j.err = ctx.Err()
				return
			}
			defer func() { <-sem }()
			if err := fn(j); err != nil {
				j.err = err
			}
		})
	}
	wg.Wait()
}

func newRenderer(ctx context.Context, opts Options) (*renderer, error) {
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
		opts:      opts,
		src:       opts.Source,
		env:       opts.Environment,
		settings:  opts.Settings,
		log:       log,
		charts:    newChartCache(cacheDir, log),
		installed: opts.Installed,
		dec:       &decrypter{ctx: ctx, keyFile: opts.DecryptionKeyFile, keyServices: opts.SOPSKeyServices},
	}
	caps := opts.Capabilities
	if caps == nil {
		caps = OfflineCapabilities(opts.Environment)
	}
	caps = &Capabilities{KubeVersion: caps.KubeVersion, APIVersions: caps.APIVersions, Source: caps.Source}
	if v := opts.Settings.KubeVersion; v != "" {
		caps.KubeVersion, caps.Source = v, "render.kubeVersion"
	}
	if _, err := chartutil.ParseKubeVersion(caps.KubeVersion); err != nil {
		if opts.Settings.KubeVersion != "" {
			return nil, errs.Inputf("render.kubeVersion %q: %v", caps.KubeVersion, err)
		}
		return nil, fmt.Errorf("Kubernetes version %q of %s: %w", caps.KubeVersion, caps.Source, err)
	}
	r.caps = caps
	log.Debug("rendering charts for", "kubeVersion", caps.KubeVersion, "from", caps.Source, "apiVersions", len(caps.APIVersions))
	return r, nil
}

// selectComponents returns the components to render, in environment order,
// and the components outside the selection that must render too for what
// they declare: when a selected release may create its namespace, whether
// another component declares it decides.
func (r *renderer) selectComponents() (selected, extra []config.Component, err error) {
	comps := r.env.Spec.Components
	if _, err := r.env.Order(); err != nil {
		return nil, nil, err
	}
	if len(r.opts.Components) == 0 {
		return slices.Clone(comps), nil, nil
	}
	want := map[string]bool{}
	var unknown []string
	for _, n := range r.opts.Components {
		if r.env.Component(n) == nil {
			unknown = append(unknown, n)
		}
		want[n] = true
	}
	if len(unknown) > 0 {
		known := make([]string, 0, len(comps))
		for _, c := range comps {
			known = append(known, c.Name)
		}
		slices.Sort(known)
		where := r.env.Metadata.Name
		if r.env.File != "" {
			where = fmt.Sprintf("%s (%s)", where, r.env.File)
		}
		return nil, nil, errs.Inputf("unknown component %s in environment %s; known components: %s",
			quoteList(unknown), where, strings.Join(known, ", "))
	}
	needContext := false
	for _, c := range comps {
		if want[c.Name] {
			selected = append(selected, c)
			needContext = needContext || c.Helm != nil && c.Helm.NamespaceCreated()
		}
	}
	if needContext {
		for _, c := range comps {
			if !want[c.Name] {
				extra = append(extra, c)
			}
		}
	}
	return selected, extra, nil
}

// prepare renders a component as far as it can without the environment's
// CRDs: all of a kustomize or manifests component, the chart and values of
// a Helm release.
func (r *renderer) prepare(ctx context.Context, j *job) error {
	c := j.comp
	log := r.log.With("component", c.Name)
	switch {
	case len(c.SourceKinds()) > 1:
		return errs.Inputf("declares more than one of kustomize, helm and manifests; a component is exactly one")
	case c.Manifests != nil:
		log.Debug("reading manifests", "dir", c.Manifests.Path)
		objs, err := r.buildManifests(ctx, c)
		if err != nil {
			return err
		}
		j.out.Objects = objs
	case c.Kustomize != "":
		log.Debug("building kustomization", "dir", c.Kustomize)
		if j.scan == nil {
			sc, err := r.scanKustomize(c)
			if err != nil {
				return err
			}
			j.scan = sc
		}
		objs, err := r.buildKustomize(ctx, c, j.scan)
		if err != nil {
			return err
		}
		j.out.Objects = objs
	case c.Helm != nil:
		ns := c.Helm.Namespace
		if ns == "" {
			ns = DefaultReleaseNamespace
		}
		j.out.Namespace = ns
		log.Debug("loading chart", "chart", c.Helm.Chart)
		p, err := r.prepareHelm(ctx, c)
		if err != nil {
			return err
		}
		j.helm = p
	default:
		return errs.Inputf("declares none of kustomize, helm and manifests")
	}
	return nil
}

// template renders a prepared chart with the environment's CRDs among the
// API versions.
func (r *renderer) template(ctx context.Context, j *job, crds []string) error {
	c := j.comp
	rel := c.Helm.Release
	if rel == "" {
		rel = c.Name
	}
	log := r.log.With("component", c.Name)
	log.Debug("rendering chart", "chart", c.Helm.Chart, "release", rel, "namespace", j.out.Namespace)
	h, err := r.buildHelm(ctx, c, j.helm, rel, j.out.Namespace, crds, log)
	if err != nil {
		return err
	}
	j.out.Objects, j.out.Hooks, j.out.Tests = h.objects, h.hooks, h.tests
	return nil
}

// finish completes the rendered components together, since namespace
// defaulting needs the CRDs of the whole render and duplicates are found
// across components: it gives Helm objects their release namespace, adds
// the namespaces of releases that no component declares, adds the
// ownership labels, sorts, and refuses an object declared twice. others are
// components outside the selection, rendered for what they declare.
func (r *renderer) finish(comps, others []*Component) error {
	var all []*unstructured.Unstructured
	for _, c := range slices.Concat(comps, others) {
		all = append(all, c.Objects...)
	}
	sc := newScopes(all)
	r.addReleaseNamespaces(comps, all)

	owner := map[ObjectID]string{}
	var dups []error
	for _, c := range comps {
		objs := slices.Clone(c.Objects)
		for _, h := range slices.Concat(c.Hooks, c.Tests) {
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
					dups = append(dups, errs.Inputf("object %s is emitted twice by component %s; declare it once: envctl applies, records and prunes each object from one declaration (kubectl would apply both, the last winning)", id, c.Name))
				} else {
					dups = append(dups, errs.Inputf("object %s is emitted by two components, %s and %s; each object must belong to one component", id, prev, c.Name))
				}
				continue
			}
			owner[id] = c.Name
		}
		slices.SortFunc(c.Objects, object.Compare)
		slices.SortFunc(c.Hooks, compareHooks)
		slices.SortFunc(c.Tests, compareHooks)
	}
	if len(dups) > 0 {
		return joinFailures(dups)
	}
	return nil
}

// builtinNamespaces exist in every cluster; a release into one of them
// never creates it, and envctl must never own (and so delete) it.
var builtinNamespaces = []string{"default", "kube-system", "kube-public", "kube-node-lease"}

// addReleaseNamespaces gives each Helm release whose namespace no component
// declares a Namespace object of its own, as `helm install
// --create-namespace` would, unless helm.createNamespace is false. When two
// releases share such a namespace, the first in environment order holds it.
func (r *renderer) addReleaseNamespaces(comps []*Component, all []*unstructured.Unstructured) {
	declared := map[string]bool{}
	for _, o := range all {
		if gvk := o.GroupVersionKind(); gvk.Group == "" && gvk.Kind == "Namespace" {
			declared[o.GetName()] = true
		}
	}
	for _, c := range comps {
		spec := r.env.Component(c.Name)
		if spec == nil || spec.Helm == nil || !spec.Helm.NamespaceCreated() {
			continue
		}
		ns := c.Namespace
		if ns == "" || declared[ns] || slices.Contains(builtinNamespaces, ns) {
			continue
		}
		declared[ns] = true
		c.Objects = append(c.Objects, &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1",
			"kind":       "Namespace",
			"metadata":   map[string]any{"name": ns},
		}})
	}
}

// label adds the ownership labels to the object's own metadata. Selectors and
// pod templates are left alone: changing them would change which pods a
// workload owns.
func (r *renderer) label(o *unstructured.Unstructured, component string) {
	labels := o.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[ownership.LabelManagedBy] = ownership.ManagedByValue
	labels[ownership.LabelEnvironment] = r.env.Metadata.Name
	labels[ownership.LabelComponent] = component
	o.SetLabels(labels)
}

// compareHooks orders hooks by their first phase, then weight and name (as
// Helm runs them), then kind order and identity.
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
	if d := strings.Compare(a.Object.GetName(), b.Object.GetName()); d != 0 {
		return d
	}
	return object.Compare(a.Object, b.Object)
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
