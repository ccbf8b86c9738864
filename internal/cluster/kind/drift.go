package kind

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
)

// nodeNames are the container names kind gives cfg's nodes: per role, the
// first is NAME-ROLE, the next NAME-ROLE2, and so on.
func nodeNames(cfg *kindcfg) []string {
	count := map[v1alpha4.NodeRole]int{}
	out := make([]string, len(cfg.Nodes))
	for i, n := range cfg.Nodes {
		count[n.Role]++
		out[i] = cfg.Name + "-" + string(n.Role)
		if c := count[n.Role]; c > 1 {
			out[i] += strconv.Itoa(c)
		}
	}
	return out
}

// drift compares the nodes cfg declares with the containers that run the
// cluster and lists what kind cannot change on a running cluster: the
// nodes themselves, their image, published ports and mounts.
func drift(cfg *kindcfg, cs []container) []string {
	byName := map[string]container{}
	for _, c := range cs {
		if c.Role != lbRole {
			byName[c.Name] = c
		}
	}
	var out []string
	want := nodeNames(cfg)
	for i, n := range cfg.Nodes {
		c, ok := byName[want[i]]
		if !ok {
			out = append(out, fmt.Sprintf("node %s (%s) is declared but has no container", want[i], n.Role))
			continue
		}
		delete(byName, want[i])
		if !sameImage(c.Image, n.Image) {
			out = append(out, fmt.Sprintf("node %s runs image %s; declared %s", c.Name, c.Image, n.Image))
		}
		for _, pm := range n.ExtraPortMappings {
			if !published(c.Ports, pm) {
				out = append(out, fmt.Sprintf("node %s does not publish %s", c.Name, describeMapping(pm)))
			}
		}
		for _, m := range n.ExtraMounts {
			if !mounted(c.Binds, m) {
				out = append(out, fmt.Sprintf("node %s does not mount %s at %s", c.Name, m.HostPath, m.ContainerPath))
			}
		}
	}
	extra := make([]string, 0, len(byName))
	for name := range byName {
		extra = append(extra, name)
	}
	slices.Sort(extra)
	for _, name := range extra {
		out = append(out, fmt.Sprintf("node %s runs but is not declared", name))
	}
	return out
}

// sameImage compares image references as runtimes rewrite them: podman
// adds docker.io/, and a declared digest must match the one run.
func sameImage(running, declared string) bool {
	norm := func(s string) string { return strings.TrimPrefix(s, "docker.io/") }
	return norm(running) == norm(declared)
}

// published says whether ports (as listContainers gives them) hold pm.
func published(ports []string, pm v1alpha4.PortMapping) bool {
	proto := strings.ToUpper(string(pm.Protocol))
	if proto == "" {
		proto = "TCP"
	}
	suffix := fmt.Sprintf("->%d/%s", pm.ContainerPort, proto)
	for _, p := range ports {
		if !strings.HasSuffix(p, suffix) {
			continue
		}
		hostPart := strings.TrimSuffix(p, suffix)
		addr, port, _ := strings.Cut(hostPart, ":")
		if pm.HostPort > 0 && port != strconv.Itoa(int(pm.HostPort)) {
			continue
		}
		if pm.ListenAddress != "" && addr != "" && addr != pm.ListenAddress {
			continue
		}
		return true
	}
	return false
}

func describeMapping(pm v1alpha4.PortMapping) string {
	proto := cmpOr(string(pm.Protocol), "TCP")
	host := "a free port"
	if pm.HostPort > 0 {
		host = strconv.Itoa(int(pm.HostPort))
	}
	return fmt.Sprintf("%s:%s -> %d/%s", cmpOr(pm.ListenAddress, "0.0.0.0"), host, pm.ContainerPort, proto)
}

// mounted says whether binds hold m.
func mounted(binds []string, m v1alpha4.Mount) bool {
	host, _ := filepath.Abs(m.HostPath)
	for _, b := range binds {
		parts := strings.Split(b, ":")
		if len(parts) >= 2 && (parts[0] == m.HostPath || parts[0] == host) && parts[1] == m.ContainerPath {
			return true
		}
	}
	return false
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
