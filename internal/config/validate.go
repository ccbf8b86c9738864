package config

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net/url"
	"path"
	"strings"

	"k8s.io/apimachinery/pkg/api/validate/content"
	"k8s.io/apimachinery/pkg/util/version"

	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/source"
)

// maxFieldManager is the API server's limit on a field manager's length.
const maxFieldManager = 128

// Validate checks the settings, reporting every problem at once. It does
// not check paths, which need the repository root; Load does.
func (c *Config) Validate() error {
	return validateSettings(&c.Spec, "", func(string) (string, Pos) { return "", Pos{} })
}

// validateSettings checks effective settings; loc says where a setting's
// value came from, so that a bad flag is not blamed on the file.
func validateSettings(s *Settings, root string, loc func(name string) (string, Pos)) error {
	var list []error
	add := func(name, format string, args ...any) {
		file, pos := loc(name)
		list = append(list, &FieldError{File: file, Line: pos.Line, Column: pos.Column,
			Field: "spec." + name, Msg: fmt.Sprintf(format, args...)})
	}
	if msgs := content.IsDNS1123Label(s.DefaultEnvironment); len(msgs) > 0 {
		add("defaultEnvironment", "%q is not a valid environment name: %s", s.DefaultEnvironment, strings.Join(msgs, "; "))
	}
	switch {
	case s.EnvironmentsDir == "":
		add("environmentsDir", "must not be empty")
	case root != "":
		if _, err := source.Confine(root, s.EnvironmentsDir); err != nil {
			add("environmentsDir", "%v", err)
		}
	}
	if s.Render.Concurrency < 1 {
		add("render.concurrency", "must be at least 1, got %d", s.Render.Concurrency)
	}
	if v := s.Render.KubeVersion; v != "" {
		if _, err := version.ParseGeneric(v); err != nil {
			add("render.kubeVersion", "%q is not a Kubernetes version such as v1.33.0", v)
		}
	}
	if fm := s.Apply.FieldManager; fm == "" || len(fm) > maxFieldManager {
		add("apply.fieldManager", "must be 1 to %d characters long", maxFieldManager)
	}
	if s.Apply.Concurrency < 1 {
		add("apply.concurrency", "must be at least 1, got %d", s.Apply.Concurrency)
	}
	if s.Apply.Timeout.Duration <= 0 {
		add("apply.timeout", "must be positive, got %s", s.Apply.Timeout)
	}
	if s.Cluster.Timeout.Duration <= 0 {
		add("cluster.timeout", "must be positive, got %s", s.Cluster.Timeout)
	}
	if s.Cluster.RuntimeWait.Duration < 0 {
		add("cluster.runtimeWait", "must not be negative, got %s", s.Cluster.RuntimeWait)
	}
	if f := s.Prune.MaxFraction; !(f > 0 && f <= 1) || math.IsNaN(f) {
		add("prune.maxFraction", "must be more than 0 and at most 1, got %s", formatValue(f))
	}
	if len(list) == 0 {
		return nil
	}
	return errs.Input(errors.Join(list...))
}

// Validate checks the environment, reporting every problem at once. root,
// when not empty, is the repository root: paths must stay inside it and the
// overlays, charts and values files they name must exist.
func (e *Environment) Validate(root string) error {
	p := &problems{file: e.File, pos: positions{}}
	if e.Metadata.Name == "" {
		p.addf("metadata.name", "metadata.name is missing")
	}
	validateEnvironment(e, root, p)
	return p.err()
}

func validateEnvironment(e *Environment, root string, p *problems) {
	if n := e.Metadata.Name; n != "" {
		if msgs := content.IsDNS1123Label(n); len(msgs) > 0 {
			p.addf("metadata.name", "%q is not a valid environment name: %s", n, strings.Join(msgs, "; "))
		}
	}
	validateCluster(e, p)
	validateComponents(e, root, p)
	if sa := e.Spec.ServiceAccountName; sa != "" {
		if err := CheckServiceAccount(sa); err != nil {
			p.addf("spec.serviceAccountName", "%v", err)
		}
	}
}

// CheckServiceAccount reports a service account reference that is not
// NAMESPACE:NAME with both parts DNS names.
func CheckServiceAccount(ref string) error {
	ns, name, ok := ServiceAccount(ref)
	if !ok {
		return fmt.Errorf("service account %q: want NAMESPACE:NAME", ref)
	}
	if msgs := content.IsDNS1123Label(ns); len(msgs) > 0 {
		return fmt.Errorf("service account %q: namespace %q is not valid: %s", ref, ns, strings.Join(msgs, "; "))
	}
	if msgs := content.IsDNS1123Subdomain(name); len(msgs) > 0 {
		return fmt.Errorf("service account %q: name %q is not valid: %s", ref, name, strings.Join(msgs, "; "))
	}
	return nil
}

// checkName reports a name that is not a DNS-1123 label.
func checkName(p *problems, path, what, name string) {
	if name == "" {
		p.addf(path, "%s is missing", what)
		return
	}
	if msgs := content.IsDNS1123Label(name); len(msgs) > 0 {
		p.addf(path, "%s %q is not valid: %s", what, name, strings.Join(msgs, "; "))
	}
}

func validateComponents(e *Environment, root string, p *problems) {
	comps := e.Spec.Components
	index := map[string]int{}
	var names []string
	for i, c := range comps {
		at := fmt.Sprintf("spec.components[%d]", i)
		checkName(p, at+".name", "component name", c.Name)
		if c.Name == "" {
			continue
		}
		if j, dup := index[c.Name]; dup {
			p.addf(at+".name", "component name %q is already used by spec.components[%d]", c.Name, j)
			continue
		}
		index[c.Name] = i
		names = append(names, c.Name)
	}
	for i, c := range comps {
		at := fmt.Sprintf("spec.components[%d]", i)
		label := fmt.Sprintf("component %q", c.Name)
		switch kinds := c.SourceKinds(); {
		case len(kinds) > 1:
			p.addf(at, "%s sets %s; a component is exactly one of kustomize, helm or manifests", label, joinAnd(kinds))
		case len(kinds) == 0:
			p.addf(at, "%s sets none of kustomize, helm or manifests", label)
		case c.Kustomize != "":
			checkKustomize(p, root, at+".kustomize", label, c.Kustomize)
		case c.Manifests != nil:
			validateManifests(p, root, at+".manifests", label, c.Manifests)
		default:
			validateHelm(p, root, at+".helm", label, c)
		}
		if d := c.Decryption; d != nil && d.Provider != DecryptionSOPS {
			p.addf(at+".decryption.provider", "%s: decryption provider %q is not supported; the provider is sops", label, d.Provider)
		}
		seen := map[string]bool{}
		for j, dep := range c.DependsOn {
			dat := fmt.Sprintf("%s.dependsOn[%d]", at, j)
			_, known := index[dep]
			switch {
			case dep == c.Name:
				p.addf(dat, "%s depends on itself", label)
			case seen[dep]:
				p.addf(dat, "%s lists %q twice", label, dep)
			case !known:
				p.addf(dat, "%s depends on unknown component %q%s", label, dep, didYouMean(dep, names))
			}
			seen[dep] = true
		}
		if c.Timeout.Duration < 0 {
			p.addf(at+".timeout", "%s: timeout must not be negative, got %s", label, c.Timeout)
		}
	}
	for _, cyc := range findCycles(comps) {
		i := index[cyc[0]]
		at := fmt.Sprintf("spec.components[%d].dependsOn", i)
		p.addf(at, "dependsOn cycle: %s", strings.Join(cyc, " -> "))
	}
}

// checkKustomize checks that a kustomize directory is inside the repository
// and holds a kustomization.
func checkKustomize(p *problems, root, at, label, dir string) {
	if root == "" {
		return
	}
	st, ok, err := stat(p, root, at, label, dir)
	if !ok {
		return
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		p.addf(at, "%s: kustomize directory %q does not exist", label, dir)
		return
	case err != nil:
		p.addf(at, "%s: kustomize directory %q: %v", label, dir, err)
		return
	case !st.IsDir():
		p.addf(at, "%s: kustomize path %q is not a directory", label, dir)
		return
	}
	for _, name := range []string{"kustomization.yaml", "kustomization.yml", "Kustomization"} {
		if _, err := source.Stat(root, path.Join(dir, name)); err == nil {
			return
		}
	}
	p.addf(at, "%s: directory %q has no kustomization.yaml", label, dir)
}

// stat describes a path written in the file, within root (source.Stat,
// which reads a snapshot's index rather than write it), reporting a path
// that escapes it: ok is false then. err is the stat's.
func stat(p *problems, root, at, label, rel string) (st fs.FileInfo, ok bool, err error) {
	if rel == "" {
		p.addf(at, "%s: path is empty", label)
		return nil, false, nil
	}
	if err := source.Check(root, rel); err != nil {
		p.addf(at, "%s: %v", label, err)
		return nil, false, nil
	}
	st, err = source.Stat(root, rel)
	return st, true, err
}

// ChartKind is where a Helm chart comes from.
type ChartKind string

// Chart sources, told apart by how the chart is written.
const (
	// ChartLocal is a chart directory or archive inside the repository.
	ChartLocal ChartKind = "local"
	// ChartRepo is a chart name in an HTTP chart repository (helm.repo).
	ChartRepo ChartKind = "repo"
	// ChartOCI is an oci:// reference.
	ChartOCI ChartKind = "oci"
)

// ChartKind says where the chart comes from, so that render need not parse
// the chart reference again.
func (h *HelmRelease) ChartKind() ChartKind {
	switch {
	case strings.HasPrefix(h.Chart, "oci://"):
		return ChartOCI
	case h.Repo != "":
		return ChartRepo
	default:
		return ChartLocal
	}
}

// maxReleaseName is Helm's limit on a release name.
const maxReleaseName = 53

func validateHelm(p *problems, root, at, label string, c Component) {
	h := c.Helm
	switch kind := h.ChartKind(); {
	case h.Chart == "":
		p.addf(at+".chart", "%s: helm.chart is required", label)
	case strings.HasPrefix(h.Chart, "http://") || strings.HasPrefix(h.Chart, "https://"):
		p.addf(at+".chart", "%s: helm.chart %q is a URL; put the repository URL in helm.repo and the chart name in helm.chart, or use an oci:// reference", label, h.Chart)
	case kind == ChartOCI:
		ref := strings.TrimPrefix(h.Chart, "oci://")
		if u, err := url.Parse(h.Chart); err == nil && u.User != nil {
			p.addf(at+".chart", "%s: helm.chart %q holds user information; a credential is never committed: name one in helm.repoAuth.credential", label, u.Redacted())
		} else if host, repo, ok := strings.Cut(ref, "/"); !ok || host == "" || repo == "" || strings.Contains(ref, "//") {
			p.addf(at+".chart", "%s: %q is not an OCI chart reference such as oci://registry.example.com/charts/name", label, h.Chart)
		}
		if h.Repo != "" {
			p.addf(at+".repo", "%s: helm.repo is not used with an oci:// chart; remove it", label)
		}
		if h.Version == "" {
			p.addf(at, "%s: helm.version is required for an OCI chart", label)
		}
	case kind == ChartRepo:
		checkRepoURL(p, at+".repo", label, h.Repo)
		if strings.Contains(h.Chart, "/") || strings.TrimSpace(h.Chart) != h.Chart {
			p.addf(at+".chart", "%s: with helm.repo, helm.chart is a chart name in that repository, not %q", label, h.Chart)
		}
		if h.Version == "" {
			p.addf(at, "%s: helm.version is required for a chart from a repository", label)
		}
	default:
		if h.Version != "" {
			p.addf(at+".version", "%s: helm.version applies to repository and OCI charts; a chart in the repository takes its version from its Chart.yaml", label)
		}
		checkLocalChart(p, root, at+".chart", label, h.Chart)
	}
	if rel := c.Release(); len(rel) > maxReleaseName {
		p.addf(at+".release", "%s: release name %q is longer than %d characters", label, rel, maxReleaseName)
	} else if msgs := content.IsDNS1123Subdomain(rel); len(msgs) > 0 {
		p.addf(at+".release", "%s: release name %q is not valid: %s", label, rel, strings.Join(msgs, "; "))
	}
	if ns := h.Namespace; ns != "" {
		if msgs := content.IsDNS1123Label(ns); len(msgs) > 0 {
			p.addf(at+".namespace", "%s: namespace %q is not valid: %s", label, ns, strings.Join(msgs, "; "))
		}
	}
	if h.RepoAuth != nil {
		validateRepoAuth(p, root, at+".repoAuth", label, h)
	}
	for i, vf := range h.ValuesFiles {
		vat := fmt.Sprintf("%s.valuesFiles[%d]", at, i)
		if root == "" {
			if vf == "" {
				p.addf(vat, "%s: path is empty", label)
			}
			continue
		}
		st, ok, err := stat(p, root, vat, label, vf)
		if !ok {
			continue
		}
		switch {
		case errors.Is(err, fs.ErrNotExist):
			p.addf(vat, "%s: values file %q does not exist", label, vf)
		case err != nil:
			p.addf(vat, "%s: values file %q: %v", label, vf, err)
		case !st.Mode().IsRegular():
			p.addf(vat, "%s: values file %q is not a regular file", label, vf)
		}
	}
}

func checkRepoURL(p *problems, at, label, repo string) {
	if u, err := url.Parse(repo); err == nil && u.User != nil {
		// Redacted: the message must not repeat the password.
		p.addf(at, "%s: helm.repo %q holds user information; a credential is never committed: name one in helm.repoAuth.credential", label, u.Redacted())
		return
	}
	switch {
	case strings.HasPrefix(repo, "oci://"):
		p.addf(at, "%s: helm.repo %q is an OCI registry; write the full oci:// reference in helm.chart instead", label, repo)
	case !strings.HasPrefix(repo, "https://") && !strings.HasPrefix(repo, "http://"):
		p.addf(at, "%s: helm.repo %q is not an http:// or https:// chart repository URL", label, repo)
	case strings.TrimPrefix(strings.TrimPrefix(repo, "https://"), "http://") == "":
		p.addf(at, "%s: helm.repo %q has no host", label, repo)
	}
}

func checkLocalChart(p *problems, root, at, label, chart string) {
	if root == "" {
		return
	}
	st, ok, err := stat(p, root, at, label, chart)
	if !ok {
		return
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		p.addf(at, "%s: chart %q does not exist in the repository (for a chart from a repository set helm.repo; for a registry use oci://)", label, chart)
	case err != nil:
		p.addf(at, "%s: chart %q: %v", label, chart, err)
	case st.IsDir():
		if _, err := source.Stat(root, path.Join(chart, "Chart.yaml")); err != nil {
			p.addf(at, "%s: chart directory %q has no Chart.yaml", label, chart)
		}
	case path.Ext(chart) != ".tgz":
		p.addf(at, "%s: chart %q is neither a chart directory nor a .tgz archive", label, chart)
	}
}

// findCycles returns each dependsOn cycle once, as a path that starts and
// ends with the same component, starting from the first one declared.
func findCycles(comps []Component) [][]string {
	deps := map[string][]string{}
	for _, c := range comps {
		if _, dup := deps[c.Name]; !dup {
			deps[c.Name] = c.DependsOn
		}
	}
	const (
		unvisited = iota
		onStack
		done
	)
	state := map[string]int{}
	var stack []string
	var cycles [][]string
	seen := map[string]bool{}
	var visit func(n string)
	visit = func(n string) {
		state[n] = onStack
		stack = append(stack, n)
		for _, d := range deps[n] {
			if _, known := deps[d]; !known || d == n {
				continue // reported as unknown or as depending on itself
			}
			switch state[d] {
			case unvisited:
				visit(d)
			case onStack:
				i := len(stack) - 1
				for stack[i] != d {
					i--
				}
				cyc := append(append([]string{}, stack[i:]...), d)
				if key := cycleKey(cyc); !seen[key] {
					seen[key] = true
					cycles = append(cycles, cyc)
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[n] = done
	}
	for _, c := range comps {
		if state[c.Name] == unvisited {
			visit(c.Name)
		}
	}
	return cycles
}

// cycleKey identifies a cycle whatever component it is written from.
func cycleKey(cyc []string) string {
	ring := cyc[:len(cyc)-1]
	start := 0
	for i, n := range ring {
		if n < ring[start] {
			start = i
		}
	}
	rot := append(append([]string{}, ring[start:]...), ring[:start]...)
	return strings.Join(rot, "\x00")
}
