package config

import (
	"maps"
	"sort"
	"strings"

	"github.com/envctl/envctl/internal/errs"
)

// Name is the environment's name.
func (e *Environment) Name() string { return e.Metadata.Name }

// ClusterName is the cluster's name: spec.cluster.name, or envctl-ENV,
// suffixed with -ID for an instance (see SetInstance).
func (e *Environment) ClusterName() string {
	name := e.baseClusterName()
	if name != "" && e.Instance != "" {
		name += "-" + e.Instance
	}
	return name
}

// baseClusterName is the cluster's name without the instance suffix.
func (e *Environment) baseClusterName() string {
	if e.Spec.Cluster.Name != "" {
		return e.Spec.Cluster.Name
	}
	if e.Metadata.Name == "" {
		return ""
	}
	return "envctl-" + e.Metadata.Name
}

// Component returns the component called name, or nil.
func (e *Environment) Component(name string) *Component {
	for i := range e.Spec.Components {
		if e.Spec.Components[i].Name == name {
			return &e.Spec.Components[i]
		}
	}
	return nil
}

// Release is the Helm release name: helm.release, or the component's name.
func (c Component) Release() string {
	if c.Helm != nil && c.Helm.Release != "" {
		return c.Helm.Release
	}
	return c.Name
}

// WaitEnabled says whether to wait for the component to become healthy;
// it does unless wait is false.
func (c Component) WaitEnabled() bool { return c.Wait == nil || *c.Wait }

// NamespaceCreated says whether the release's namespace is added when no
// component declares it; it is unless createNamespace is false.
func (h *HelmRelease) NamespaceCreated() bool { return h.CreateNamespace == nil || *h.CreateNamespace }

// Decrypts says whether the component's SOPS files are decrypted.
func (c Component) Decrypts() bool {
	return c.Decryption != nil && c.Decryption.Provider == DecryptionSOPS
}

// CRDsIncluded says whether the chart's crds/ directory is rendered; it is
// unless includeCRDs is false.
func (h *HelmRelease) CRDsIncluded() bool { return h.IncludeCRDs == nil || *h.IncludeCRDs }

// PruneEnabled says whether prune runs; it does unless disabled.
func (s PruneSettings) PruneEnabled() bool { return s.Enabled == nil || *s.Enabled }

// DefaultSettings returns the settings envctl uses when config.yaml, the
// environment variables and the flags say nothing.
func DefaultSettings() Settings {
	var s Settings
	for _, st := range settingTable {
		st.setValue(&s, st.def)
	}
	return s
}

// ApplyDefaults fills in what the environment leaves out, with s supplying
// the repo-wide defaults (the health timeout). Load calls it; callers that
// build an Environment by hand call it too.
func (e *Environment) ApplyDefaults(s Settings) {
	cl := &e.Spec.Cluster
	if cl.Provider == "" {
		cl.Provider = ProviderAuto
	}
	cl.Name = e.baseClusterName()
	if cl.Embedded != nil {
		for i := range cl.Embedded.Nodes {
			pool := &cl.Embedded.Nodes[i]
			if pool.Name == "" {
				pool.Name = "node"
			}
			if pool.Count == 0 {
				pool.Count = 1
			}
			if pool.Allocatable == nil && pool.Capacity != nil {
				pool.Allocatable = maps.Clone(pool.Capacity)
			}
		}
	}
	for i := range e.Spec.Components {
		c := &e.Spec.Components[i]
		if c.Timeout.Duration == 0 {
			c.Timeout = s.Apply.Timeout
		}
		if c.Wait == nil {
			t := true
			c.Wait = &t
		}
		if h := c.Helm; h != nil {
			if h.Release == "" {
				h.Release = c.Name
			}
			if h.IncludeCRDs == nil {
				t := true
				h.IncludeCRDs = &t
			}
			if h.CreateNamespace == nil {
				t := true
				h.CreateNamespace = &t
			}
		}
	}
}

// Order layers the components by dependsOn: the first layer depends on
// nothing, and each later layer only on earlier ones, so each layer can be
// applied concurrently. Names within a layer are sorted. A dependsOn cycle or
// an unknown component is bad input.
func (e *Environment) Order() ([][]string, error) {
	comps := e.Spec.Components
	pending := map[string][]string{}
	for _, c := range comps {
		pending[c.Name] = c.DependsOn
	}
	for _, c := range comps {
		for _, d := range c.DependsOn {
			if d == c.Name {
				return nil, errs.Inputf("%s: component %q depends on itself", e.File, c.Name)
			}
			if _, ok := pending[d]; !ok {
				return nil, errs.Inputf("%s: component %q depends on unknown component %q", e.File, c.Name, d)
			}
		}
	}
	placed := map[string]bool{}
	var layers [][]string
	for len(placed) < len(pending) {
		var layer []string
		for name, deps := range pending {
			if placed[name] {
				continue
			}
			ready := true
			for _, d := range deps {
				ready = ready && placed[d]
			}
			if ready {
				layer = append(layer, name)
			}
		}
		if len(layer) == 0 {
			var descs []string
			for _, cyc := range findCycles(comps) {
				descs = append(descs, strings.Join(cyc, " -> "))
			}
			return nil, errs.Inputf("%s: dependsOn cycle: %s", e.File, strings.Join(descs, "; "))
		}
		sort.Strings(layer)
		for _, n := range layer {
			placed[n] = true
		}
		layers = append(layers, layer)
	}
	return layers, nil
}
