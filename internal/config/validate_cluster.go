package config

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/api/validate/content"
)

// Providers lists the cluster providers an environment may name.
var Providers = []string{ProviderAuto, ProviderEmbedded, ProviderKind, ProviderExisting}

// TaintEffects are the effects a node taint may have.
var TaintEffects = []string{"NoSchedule", "PreferNoSchedule", "NoExecute"}

// Kind node roles.
const (
	RoleControlPlane = "control-plane"
	RoleWorker       = "worker"
)

// maxPoolNodes bounds one simulated node pool: each node is an object the
// embedded control plane keeps and heartbeats, and a typo such as 10000
// should not exhaust the machine.
const maxPoolNodes = 1000

func validateCluster(e *Environment, p *problems) {
	c := &e.Spec.Cluster
	const at = "spec.cluster"
	provider := c.Provider
	if provider == "" {
		provider = ProviderAuto
	}
	known := false
	for _, pr := range Providers {
		known = known || pr == provider
	}
	if !known {
		p.addf(at+".provider", "unknown provider %q%s; want one of %s", c.Provider, didYouMean(c.Provider, Providers), strings.Join(Providers, ", "))
	}
	if name := e.ClusterName(); name != "" {
		if msgs := content.IsDNS1123Label(name); len(msgs) > 0 {
			hint := ""
			if c.Name == "" {
				hint = " (derived from the environment name; set spec.cluster.name)"
			}
			p.addf(at+".name", "cluster name %q is not valid: %s%s", name, strings.Join(msgs, "; "), hint)
		}
	}
	// A section for another provider would be silently ignored, which hides
	// a mistake in the provider or in the section.
	sections := []struct {
		name string
		set  bool
		ok   []string
	}{
		{"embedded", c.Embedded != nil, []string{ProviderEmbedded, ProviderAuto}},
		{"kind", c.Kind != nil, []string{ProviderKind, ProviderAuto}},
		{"existing", c.Existing != nil, []string{ProviderExisting}},
	}
	for _, s := range sections {
		if !s.set || !known {
			continue
		}
		allowed := false
		for _, ok := range s.ok {
			allowed = allowed || ok == provider
		}
		if !allowed {
			p.addf(at+"."+s.name, "spec.cluster.%s is set but provider is %s; the %s section is read only with provider %s",
				s.name, provider, s.name, strings.Join(s.ok, " or "))
		}
	}
	if c.Embedded != nil {
		validateEmbedded(c.Embedded, at+".embedded", p)
	}
	if c.Kind != nil {
		validateKind(c.Kind, at+".kind", p)
	}
	if x := c.Existing; x != nil && x.InCluster && (x.Kubeconfig != "" || x.Context != "") {
		p.addf(at+".existing.inCluster", "inCluster uses the pod's service account; it cannot be combined with kubeconfig or context")
	}
}

func validateEmbedded(s *EmbeddedSpec, at string, p *problems) {
	if s.Webhooks != "" && !slices.Contains(WebhookPolicies, s.Webhooks) {
		p.addf(at+".webhooks", "unknown webhook policy %q%s; want one of %s", s.Webhooks, didYouMean(s.Webhooks, WebhookPolicies), strings.Join(WebhookPolicies, ", "))
	}
	names := map[string]int{}
	for i, pool := range s.Nodes {
		pat := fmt.Sprintf("%s.nodes[%d]", at, i)
		name := pool.Name
		if name == "" {
			name = "node"
		}
		if msgs := content.IsDNS1123Label(name); len(msgs) > 0 {
			p.addf(pat+".name", "node pool name %q is not valid: %s", name, strings.Join(msgs, "; "))
		} else if j, dup := names[name]; dup {
			p.addf(pat+".name", "node pool name %q is already used by %s.nodes[%d]; give each pool its own name", name, at, j)
		} else {
			names[name] = i
		}
		switch {
		case pool.Count < 0 || (pool.Count == 0 && p.pos.has(pat+".count")):
			p.addf(pat+".count", "node count must be at least 1, got %d", pool.Count)
		case pool.Count > maxPoolNodes:
			p.addf(pat+".count", "node count %d is more than the %d a pool may have", pool.Count, maxPoolNodes)
		}
		capacity := checkResources(p, pat+".capacity", pool.Capacity)
		alloc := checkResources(p, pat+".allocatable", pool.Allocatable)
		for _, r := range sortedKeys(alloc) {
			q := alloc[r]
			c, ok := capacity[r]
			rat := fmt.Sprintf("%s.allocatable[%q]", pat, r)
			switch {
			case !ok && len(pool.Capacity) > 0:
				p.addf(rat, "allocatable %s has no capacity; add it to capacity", r)
			case ok && q.Cmp(c) > 0:
				p.addf(rat, "allocatable %s %s is more than its capacity %s", r, q.String(), c.String())
			}
		}
		checkLabels(p, pat+".labels", pool.Labels)
		seen := map[string]int{}
		for j, t := range pool.Taints {
			tat := fmt.Sprintf("%s.taints[%d]", pat, j)
			if t.Key == "" {
				p.addf(tat+".key", "taint key is missing")
			} else if msgs := content.IsLabelKey(t.Key); len(msgs) > 0 {
				p.addf(tat+".key", "taint key %q is not valid: %s", t.Key, strings.Join(msgs, "; "))
			}
			if msgs := content.IsLabelValue(t.Value); len(msgs) > 0 {
				p.addf(tat+".value", "taint value %q is not valid: %s", t.Value, strings.Join(msgs, "; "))
			}
			effectOK := false
			for _, e := range TaintEffects {
				effectOK = effectOK || e == t.Effect
			}
			if !effectOK {
				p.addf(tat+".effect", "taint effect %q is not one of %s%s", t.Effect, strings.Join(TaintEffects, ", "), didYouMean(t.Effect, TaintEffects))
			}
			key := t.Key + "\x00" + t.Effect
			if k, dup := seen[key]; dup {
				p.addf(tat, "taint %s:%s repeats taints[%d]", t.Key, t.Effect, k)
			}
			seen[key] = j
		}
	}
}

// checkResources parses a resource list, reporting bad names and quantities.
func checkResources(p *problems, at string, list map[string]string) map[string]resource.Quantity {
	out := map[string]resource.Quantity{}
	for _, name := range sortedKeys(list) {
		rat := fmt.Sprintf("%s[%q]", at, name)
		if msgs := content.IsLabelKey(name); len(msgs) > 0 {
			p.addf(rat, "resource name %q is not valid: %s", name, strings.Join(msgs, "; "))
			continue
		}
		q, err := resource.ParseQuantity(list[name])
		if err != nil {
			p.addf(rat, "%s: %q is not a quantity such as 8, 500m or 32Gi", name, list[name])
			continue
		}
		if q.Sign() < 0 {
			p.addf(rat, "%s must not be negative, got %s", name, list[name])
			continue
		}
		out[name] = q
	}
	return out
}

func checkLabels(p *problems, at string, labels map[string]string) {
	for _, k := range sortedKeys(labels) {
		lat := fmt.Sprintf("%s[%q]", at, k)
		if msgs := content.IsLabelKey(k); len(msgs) > 0 {
			p.addf(lat, "label key %q is not valid: %s", k, strings.Join(msgs, "; "))
		}
		if msgs := content.IsLabelValue(labels[k]); len(msgs) > 0 {
			p.addf(lat, "label value %q is not valid: %s", labels[k], strings.Join(msgs, "; "))
		}
	}
}

func validateKind(s *KindSpec, at string, p *problems) {
	controlPlanes := 0
	for i, n := range s.Nodes {
		nat := fmt.Sprintf("%s.nodes[%d]", at, i)
		switch n.Role {
		case RoleControlPlane:
			controlPlanes++
		case RoleWorker:
		case "":
			p.addf(nat+".role", "role is missing; want %s or %s", RoleControlPlane, RoleWorker)
		default:
			p.addf(nat+".role", "role %q is not %s or %s%s", n.Role, RoleControlPlane, RoleWorker,
				didYouMean(n.Role, []string{RoleControlPlane, RoleWorker}))
		}
		checkLabels(p, nat+".labels", n.Labels)
		for j, m := range n.ExtraPortMappings {
			mat := fmt.Sprintf("%s.extraPortMappings[%d]", nat, j)
			if m.ContainerPort < 1 || m.ContainerPort > 65535 {
				p.addf(mat+".containerPort", "containerPort must be 1 to 65535, got %d", m.ContainerPort)
			}
			if m.HostPort < 0 || m.HostPort > 65535 {
				p.addf(mat+".hostPort", "hostPort must be 0 (any free port) to 65535, got %d", m.HostPort)
			}
			if a := m.ListenAddress; a != "" && net.ParseIP(a) == nil {
				p.addf(mat+".listenAddress", "listenAddress %q is not an IP address", a)
			}
			switch m.Protocol {
			case "", "TCP", "UDP", "SCTP":
			default:
				p.addf(mat+".protocol", "protocol %q is not TCP, UDP or SCTP", m.Protocol)
			}
		}
	}
	if len(s.Nodes) > 0 && controlPlanes == 0 {
		p.addf(at+".nodes", "a kind cluster needs at least one node with role %s", RoleControlPlane)
	}
	validateKindExtras(s, at, p)
}

// kindRequires are the resources spec.cluster.kind.requires may name.
var kindRequires = []string{"cpu", "memory"}

// validateKindExtras checks the kind fields beside the nodes: the API
// server's address, the registry, the mirrors and the requirements.
func validateKindExtras(s *KindSpec, at string, p *problems) {
	if a := s.APIServerAddress; a != "" && net.ParseIP(a) == nil {
		p.addf(at+".apiServerAddress", "apiServerAddress %q is not an IP address", a)
	}
	if r := s.Registry; r != nil {
		if r.Port < 0 || r.Port > 65535 {
			p.addf(at+".registry.port", "port must be 1 to 65535, got %d", r.Port)
		}
		if r.Name != "" {
			if msgs := content.IsDNS1123Label(r.Name); len(msgs) > 0 {
				p.addf(at+".registry.name", "registry name %q is not valid: %s", r.Name, strings.Join(msgs, "; "))
			}
		}
	}
	for i, m := range s.Mirrors {
		mat := fmt.Sprintf("%s.mirrors[%d]", at, i)
		if m.Registry == "" || strings.ContainsAny(m.Registry, "/ ") {
			p.addf(mat+".registry", "registry %q: want a registry host such as docker.io or ghcr.io", m.Registry)
		}
		if len(m.Endpoints) == 0 {
			p.addf(mat+".endpoints", "endpoints are missing: want at least one URL such as http://host.docker.internal:5002")
		}
		for j, e := range m.Endpoints {
			if u, err := url.Parse(e); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				p.addf(fmt.Sprintf("%s.endpoints[%d]", mat, j), "endpoint %q: want an http:// or https:// URL", e)
			}
		}
	}
	q := checkResources(p, at+".requires", s.Requires)
	for _, name := range sortedKeys(q) {
		if !slices.Contains(kindRequires, name) {
			p.addf(fmt.Sprintf("%s.requires[%q]", at, name), "unknown requirement %q; want %s", name, strings.Join(kindRequires, " or "))
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
