package render

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/release"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/source"
)

// DefaultReleaseNamespace is the namespace of a Helm release that declares
// none, as for `helm template` without -n.
const DefaultReleaseNamespace = "default"

// helmOutput is what rendering a chart produces.
type helmOutput struct {
	objects []*unstructured.Unstructured
	hooks   []*Hook
	tests   []*Hook
}

// preparedChart is a release's chart and values, loaded once and rendered
// once the environment's CRDs are known.
type preparedChart struct {
	chart *chart.Chart
	// what names the chart in messages.
	what string
	vals map[string]any
	// mu serialises renders of the chart: Helm's install processes the
	// chart's dependencies in place.
	mu sync.Mutex
}

// prepareHelm loads a release's chart, with its dependencies, and its values.
func (r *renderer) prepareHelm(ctx context.Context, comp config.Component) (*preparedChart, error) {
	h := comp.Helm
	chrt, what, err := r.loadChart(ctx, comp)
	if err != nil {
		return nil, err
	}
	if err := r.resolveDependencies(ctx, comp, chrt, what); err != nil {
		return nil, err
	}
	if err := action.CheckDependencies(chrt, chrt.Metadata.Dependencies); err != nil {
		return nil, errs.Inputf("chart %s: %v", what, err)
	}
	vals, err := r.helmValues(comp, h)
	if err != nil {
		return nil, err
	}
	return &preparedChart{chart: chrt, what: what, vals: vals}, nil
}

// buildHelm renders a Helm release client-side, as `helm template` does:
// an install in client-only dry-run mode, with the capabilities of the
// target cluster and the environment's CRDs, with no cluster and no DNS
// unless the settings allow chart lookups.
func (r *renderer) buildHelm(ctx context.Context, comp config.Component, p *preparedChart, release, namespace string, crds []string, log *slog.Logger) (*helmOutput, error) {
	h := comp.Helm
	chrt, what, vals := p.chart, p.what, p.vals
	p.mu.Lock()
	defer p.mu.Unlock()
	kubeVersion, apiVersions, err := helmCapabilities(r.caps, crds)
	if err != nil {
		return nil, err
	}

	cfg := &action.Configuration{
		Log: func(format string, args ...any) {
			log.Debug("helm: " + fmt.Sprintf(format, args...))
		},
	}
	inst := action.NewInstall(cfg)
	inst.ClientOnly = true
	inst.DryRun = true
	inst.DryRunOption = "client"
	inst.Replace = true
	inst.ReleaseName = release
	inst.Namespace = namespace
	inst.IncludeCRDs = h.IncludeCRDs == nil || *h.IncludeCRDs
	inst.KubeVersion = kubeVersion
	inst.APIVersions = apiVersions
	// Helm's own `helm template --is-upgrade`: the release's objects are
	// in the cluster already.
	inst.IsUpgrade = r.installed != nil && r.installed(comp.Name)
	inst.EnableDNS = false
	// The chart's values.schema.json is enforced below, offline and with
	// messages that never echo a value.
	inst.SkipSchemaValidation = true
	if r.settings.AllowChartLookup && r.opts.Cluster != nil {
		// Only this makes Helm hand the template engine a client for lookup;
		// the install stays client-only otherwise.
		cfg.RESTClientGetter = r.opts.Cluster
		inst.DryRunOption = "server"
	}

	rel, runErr := inst.RunWithContext(ctx, chrt, vals)
	// Install processed the chart's dependencies in place, so chrt is now the
	// chart Helm validates against; a schema violation explains a template
	// failure better than the failure itself.
	if err := validateChartValues(chrt, vals); err != nil {
		return nil, errs.Input(fmt.Errorf("chart %s: %w", what, err))
	}
	if runErr != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, errs.Inputf("chart %s: %s", what, helmErrorMessage(r.relativize(runErr.Error()), chrt))
	}

	out := &helmOutput{}
	out.objects, err = decodeManifests([]byte(rel.Manifest), chrt.Name())
	if err != nil {
		return nil, fmt.Errorf("chart %s: %w", what, err)
	}
	for _, hk := range rel.Hooks {
		if isTestHook(hk) {
			t, err := convertHook(hk, []HookPhase{Test})
			if err != nil {
				return nil, fmt.Errorf("chart %s: %w", what, err)
			}
			out.tests = append(out.tests, t...)
			continue
		}
		hooks, err := convertHook(hk, hookPhasesOf(hk))
		if err != nil {
			return nil, fmt.Errorf("chart %s: %w", what, err)
		}
		out.hooks = append(out.hooks, hooks...)
	}
	return out, nil
}

// loadChart loads the release's chart: a directory or archive in the
// repository, or a chart pulled (once) from an HTTP repository or an OCI
// registry into the chart cache. what names the chart in messages.
func (r *renderer) loadChart(ctx context.Context, comp config.Component) (*chart.Chart, string, error) {
	h := comp.Helm
	switch {
	case isOCI(h.Chart):
		what := h.Chart + ":" + h.Version
		creds, err := r.auth(h.RepoAuth, h.Chart, false)
		if err != nil {
			return nil, what, err
		}
		files, err := r.charts.pullOCI(ctx, h.Chart, h.Version, creds)
		if err != nil {
			return nil, what, err
		}
		c, err := loader.LoadFiles(files)
		if err != nil {
			return nil, what, errs.Inputf("chart %s: %v", what, err)
		}
		return c, what, nil
	case h.Repo != "":
		what := fmt.Sprintf("%s %s from %s", h.Chart, h.Version, h.Repo)
		creds, err := r.auth(h.RepoAuth, h.Repo, false)
		if err != nil {
			return nil, what, err
		}
		files, err := r.charts.pullRepo(ctx, h.Repo, h.Chart, h.Version, creds)
		if err != nil {
			return nil, what, err
		}
		c, err := loader.LoadFiles(files)
		if err != nil {
			return nil, what, errs.Inputf("chart %s: %v", what, err)
		}
		return c, what, nil
	}
	what := h.Chart
	abs, err := r.src.Resolve(h.Chart)
	if err != nil {
		return nil, what, fmt.Errorf("chart %s: %w", what, err)
	}
	st, err := os.Stat(abs)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, what, errs.Inputf("chart %q does not exist", h.Chart)
	}
	if err != nil {
		return nil, what, errs.Inputf("chart %s: %v", h.Chart, err)
	}
	if st.IsDir() {
		// Helm's loader follows symlinks; none may lead out of the repository.
		if err := source.CheckTree(r.src.Root, abs); err != nil {
			return nil, what, fmt.Errorf("chart %s: %w", what, err)
		}
	}
	c, err := loader.Load(abs)
	if err != nil {
		return nil, what, errs.Inputf("chart %s: %s", what, r.relativize(err.Error()))
	}
	return c, what, nil
}

// MaxValuesFileSize bounds a Helm values file: parsing YAML takes many
// times its size in memory, and a values file past a few MiB is a mistake
// (a generated file, a dump) rather than configuration.
const MaxValuesFileSize = 8 << 20

// helmValues merges the release's values files in order, then its inline
// values, each later source overriding earlier ones key by key.
func (r *renderer) helmValues(comp config.Component, h *config.HelmRelease) (map[string]any, error) {
	vals := map[string]any{}
	for _, f := range h.ValuesFiles {
		abs, err := r.src.Resolve(f)
		if err != nil {
			return nil, fmt.Errorf("values file %s: %w", f, err)
		}
		fi, err := os.Stat(abs)
		if err == nil && fi.Size() > MaxValuesFileSize {
			return nil, errs.Inputf("values file %s is %.1f MiB; envctl reads values files of at most %d MiB (values that large belong in a ConfigMap or a file the chart reads)",
				f, float64(fi.Size())/(1<<20), MaxValuesFileSize>>20)
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil, errs.Inputf("values file %q does not exist", f)
		}
		data, err := r.readFile(comp, abs, f)
		if err != nil {
			return nil, fmt.Errorf("values file %s: %w", f, err)
		}
		v, err := chartutil.ReadValues(data)
		if err != nil {
			return nil, errs.Inputf("%s: %s", f, valuesYAMLError(err))
		}
		vals = mergeValues(vals, v)
	}
	if len(h.Values) > 0 {
		// A JSON round trip gives inline values the types values files get
		// (float64 numbers, plain maps), whatever decoded the environment.
		b, err := json.Marshal(h.Values)
		if err != nil {
			return nil, errs.Inputf("inline values: %v", err)
		}
		var inline map[string]any
		if err := json.Unmarshal(b, &inline); err != nil {
			return nil, errs.Inputf("inline values: %v", err)
		}
		vals = mergeValues(vals, inline)
	}
	return vals, nil
}

// valuesYAMLError formats a YAML error of a values file as "line N: reason".
func valuesYAMLError(err error) string {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("line %s: %s", m[1], m[2])
	}
	return strings.TrimPrefix(msg, "error converting YAML to JSON: ")
}

// mergeValues deep-merges b over a: maps merge key by key, anything else in
// b replaces what a holds. Neither argument is modified.
func mergeValues(a, b map[string]any) map[string]any {
	out := make(map[string]any, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if bm, ok := v.(map[string]any); ok {
			if am, ok := out[k].(map[string]any); ok {
				out[k] = mergeValues(am, bm)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// hookPhases maps Helm's hook events to the phases envctl runs. Rollback
// events have no counterpart (envctl never rolls a release back); test
// hooks are not part of the declared state, and run only with `envctl test`.
var hookPhases = map[release.HookEvent]HookPhase{
	release.HookPreInstall:  PreInstall,
	release.HookPostInstall: PostInstall,
	release.HookPreUpgrade:  PreUpgrade,
	release.HookPostUpgrade: PostUpgrade,
	release.HookPreDelete:   PreDelete,
	release.HookPostDelete:  PostDelete,
}

// phaseOrder is the order hooks are listed in: by the first phase they run in.
var phaseOrder = []HookPhase{PreInstall, PreUpgrade, PostInstall, PostUpgrade, PreDelete, PostDelete}

// hookPhasesOf returns the phases envctl runs a Helm hook in, in phase
// order; none when none of its events is one envctl runs.
func hookPhasesOf(hk *release.Hook) []HookPhase {
	var phases []HookPhase
	for _, e := range hk.Events {
		if p, ok := hookPhases[e]; ok && !slices.Contains(phases, p) {
			phases = append(phases, p)
		}
	}
	slices.SortFunc(phases, func(a, b HookPhase) int {
		return slices.Index(phaseOrder, a) - slices.Index(phaseOrder, b)
	})
	return phases
}

// convertHook turns a Helm hook into Hooks run in phases, one for each
// object its manifest holds (a List hook holds several, and Helm creates
// them all); none when phases is empty.
func convertHook(hk *release.Hook, phases []HookPhase) ([]*Hook, error) {
	if len(phases) == 0 {
		return nil, nil
	}
	objs, err := decodeManifests([]byte(hk.Manifest), hk.Path)
	if err != nil {
		return nil, err
	}
	var policies []string
	for _, p := range hk.DeletePolicies {
		if !slices.Contains(policies, string(p)) {
			policies = append(policies, string(p))
		}
	}
	if len(policies) == 0 {
		// Helm's default, made explicit so that the engine need not know it.
		policies = []string{HookBeforeCreation}
	}
	slices.Sort(policies)
	hooks := make([]*Hook, 0, len(objs))
	for _, o := range objs {
		hooks = append(hooks, &Hook{Object: o, Phases: slices.Clone(phases), Weight: hk.Weight, DeletePolicies: slices.Clone(policies)})
	}
	return hooks, nil
}

// isTestHook says whether a hook is a chart test, run by `envctl test`.
func isTestHook(hk *release.Hook) bool {
	return slices.Contains(hk.Events, release.HookTest)
}
