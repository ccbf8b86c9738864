package kind

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net"
	"strings"

	"sigs.k8s.io/kind/pkg/apis/config/defaults"
	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/yaml"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/errs"
)

// containerdHostsDir is where the nodes' containerd looks for per-registry
// hosts.toml files (mirrors, the local registry); the patch below turns it
// on for every cluster envctl creates, so that a registry or mirror added
// later needs no new cluster.
const containerdHostsDir = "/etc/containerd/certs.d"

const containerdHostsPatch = `[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = "` + containerdHostsDir + `"
`

// defaultListenAddress is where envctl publishes a node port whose
// listenAddress is not given: the host's loopback, not kind's 0.0.0.0,
// which would open the port to the network.
const defaultListenAddress = "127.0.0.1"

// ClusterConfig translates an environment's kind section into kind's own
// v1alpha4 cluster configuration: its raw config first, then envctl's own
// fields over it. A nil spec, or one without nodes, gives kind's default:
// a single control-plane node. Every problem is reported at once, each
// naming its field under spec.cluster.kind.
func ClusterConfig(name string, spec *config.KindSpec) (*v1alpha4.Cluster, error) {
	if spec == nil {
		spec = &config.KindSpec{}
	}
	var problems []string
	c, raw := rawConfig(name, spec.Config, &problems)
	c.TypeMeta = v1alpha4.TypeMeta{Kind: "Cluster", APIVersion: "kind.x-k8s.io/v1alpha4"}
	c.Name = name
	nodes := spec.Nodes
	switch {
	case len(nodes) == 0 && len(raw) == 0:
		nodes = []config.KindNode{{Role: string(v1alpha4.ControlPlaneRole)}}
	case len(nodes) > 0 && len(raw) > 0 && len(nodes) != len(raw):
		problems = append(problems, fmt.Sprintf("spec.cluster.kind.config.nodes lists %d nodes and spec.cluster.kind.nodes %d; declare the nodes in one place, or as many in both (they are merged in order)", len(raw), len(nodes)))
	}
	c.Nodes = nil
	for i := range max(len(nodes), len(raw)) {
		var base v1alpha4.Node
		if i < len(raw) {
			base = raw[i]
		}
		var n *config.KindNode
		if i < len(nodes) {
			n = &nodes[i]
		}
		c.Nodes = append(c.Nodes, mergeNode(base, n, spec.NodeImage, fmt.Sprintf("spec.cluster.kind.nodes[%d]", i), &problems))
	}
	controlPlanes := 0
	for _, n := range c.Nodes {
		if n.Role == v1alpha4.ControlPlaneRole {
			controlPlanes++
		}
	}
	if controlPlanes == 0 {
		problems = append(problems, "spec.cluster.kind.nodes: at least one node must have role control-plane")
	}
	if a := spec.APIServerAddress; a != "" {
		if net.ParseIP(a) == nil {
			problems = append(problems, fmt.Sprintf("spec.cluster.kind.apiServerAddress %q: want an IP address", a))
		}
		c.Networking.APIServerAddress = a
	}
	c.ContainerdConfigPatches = append(c.ContainerdConfigPatches, containerdHostsPatch)
	if len(problems) > 0 {
		return nil, errs.Inputf("kind configuration of cluster %s:\n  %s", name, strings.Join(problems, "\n  "))
	}
	return c, nil
}

// rawConfig decodes the raw kind configuration as strictly as kind reads
// its own file, and returns it with its nodes taken out.
func rawConfig(name string, raw map[string]any, problems *[]string) (*v1alpha4.Cluster, []v1alpha4.Node) {
	c := &v1alpha4.Cluster{}
	if len(raw) == 0 {
		return c, nil
	}
	b, err := json.Marshal(raw)
	if err == nil {
		err = yaml.UnmarshalStrict(b, c)
	}
	if err != nil {
		*problems = append(*problems, fmt.Sprintf("spec.cluster.kind.config is not a kind cluster configuration (kind.x-k8s.io/v1alpha4): %v", err))
		return &v1alpha4.Cluster{}, nil
	}
	if c.Kind != "" && c.Kind != "Cluster" || c.APIVersion != "" && c.APIVersion != "kind.x-k8s.io/v1alpha4" {
		*problems = append(*problems, fmt.Sprintf("spec.cluster.kind.config: kind %q, apiVersion %q: want Cluster, kind.x-k8s.io/v1alpha4 (or leave them out)", c.Kind, c.APIVersion))
	}
	if c.Name != "" && c.Name != name {
		*problems = append(*problems, fmt.Sprintf("spec.cluster.kind.config.name %q: the cluster is called %s (spec.cluster.name); leave the name out", c.Name, name))
	}
	nodes := c.Nodes
	c.Nodes = nil
	return c, nodes
}

// mergeNode lays envctl's node n (nil: none) over kind's node base, the
// one of the raw configuration: envctl's role, image and port mappings
// win, labels are merged, and base's mounts and patches are kept.
func mergeNode(base v1alpha4.Node, n *config.KindNode, image, field string, problems *[]string) v1alpha4.Node {
	node := *base.DeepCopy()
	if n != nil {
		if n.Role != "" || node.Role == "" {
			node.Role = v1alpha4.NodeRole(n.Role)
		}
		for k, v := range n.Labels {
			if node.Labels == nil {
				node.Labels = map[string]string{}
			}
			node.Labels[k] = v
		}
		node.ExtraPortMappings = append(node.ExtraPortMappings, portMappings(n.ExtraPortMappings, field, problems)...)
	}
	switch node.Role {
	case v1alpha4.ControlPlaneRole, v1alpha4.WorkerRole:
	case "":
		*problems = append(*problems, fmt.Sprintf("%s.role is required: control-plane or worker", field))
	default:
		*problems = append(*problems, fmt.Sprintf("%s.role %q: want control-plane or worker", field, node.Role))
	}
	switch {
	case n != nil && n.Image != "":
		node.Image = n.Image
	case image != "":
		node.Image = image
	case node.Image == "":
		node.Image = defaults.Image
	}
	return node
}

// portMappings translates envctl's port mappings, which listen on the
// host's loopback unless they say otherwise.
func portMappings(in []config.PortMapping, field string, problems *[]string) []v1alpha4.PortMapping {
	var out []v1alpha4.PortMapping
	for j, pm := range in {
		pfield := fmt.Sprintf("%s.extraPortMappings[%d]", field, j)
		proto := v1alpha4.PortMappingProtocol(strings.ToUpper(pm.Protocol))
		switch proto {
		case "", v1alpha4.PortMappingProtocolTCP, v1alpha4.PortMappingProtocolUDP, v1alpha4.PortMappingProtocolSCTP:
		default:
			*problems = append(*problems, fmt.Sprintf("%s.protocol %q: want TCP, UDP or SCTP", pfield, pm.Protocol))
		}
		if pm.ContainerPort < 1 || pm.ContainerPort > 65535 {
			*problems = append(*problems, fmt.Sprintf("%s.containerPort %d: want 1-65535", pfield, pm.ContainerPort))
		}
		// kind reads hostPort 0 as "pick a free port", and -1 likewise.
		if pm.HostPort < -1 || pm.HostPort > 65535 {
			*problems = append(*problems, fmt.Sprintf("%s.hostPort %d: want 0-65535 (0 picks a free port)", pfield, pm.HostPort))
		}
		addr := cmp.Or(pm.ListenAddress, defaultListenAddress)
		if net.ParseIP(addr) == nil {
			*problems = append(*problems, fmt.Sprintf("%s.listenAddress %q: want an IP address", pfield, pm.ListenAddress))
		}
		out = append(out, v1alpha4.PortMapping{ContainerPort: pm.ContainerPort, HostPort: pm.HostPort, ListenAddress: addr, Protocol: proto})
	}
	return out
}

// MarshalConfig renders a kind configuration as the YAML file `kind create
// cluster --config` would read, for `envctl cluster create --dry-run`-style
// inspection and for tests.
func MarshalConfig(c *v1alpha4.Cluster) ([]byte, error) {
	b, err := yaml.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("marshal kind configuration: %w", err)
	}
	return b, nil
}
