package kind

import (
	"fmt"
	"net"
	"strings"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/yaml"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/errs"
)

// ClusterConfig translates an environment's kind section into kind's own
// v1alpha4 cluster configuration. A nil spec, or one without nodes, gives
// kind's default: a single control-plane node. Every problem is reported at
// once, each naming its field under spec.cluster.kind.
func ClusterConfig(name string, spec *config.KindSpec) (*v1alpha4.Cluster, error) {
	c := &v1alpha4.Cluster{
		TypeMeta: v1alpha4.TypeMeta{Kind: "Cluster", APIVersion: "kind.x-k8s.io/v1alpha4"},
		Name:     name,
	}
	var nodes []config.KindNode
	var image string
	if spec != nil {
		nodes, image = spec.Nodes, spec.NodeImage
	}
	if len(nodes) == 0 {
		nodes = []config.KindNode{{Role: string(v1alpha4.ControlPlaneRole)}}
	}

	var problems []string
	controlPlanes := 0
	for i, n := range nodes {
		field := fmt.Sprintf("spec.cluster.kind.nodes[%d]", i)
		role := v1alpha4.NodeRole(n.Role)
		switch role {
		case v1alpha4.ControlPlaneRole:
			controlPlanes++
		case v1alpha4.WorkerRole:
		case "":
			problems = append(problems, fmt.Sprintf("%s.role is required: control-plane or worker", field))
		default:
			problems = append(problems, fmt.Sprintf("%s.role %q: want control-plane or worker", field, n.Role))
		}
		node := v1alpha4.Node{Role: role, Image: n.Image, Labels: n.Labels}
		if node.Image == "" {
			node.Image = image
		}
		for j, pm := range n.ExtraPortMappings {
			pfield := fmt.Sprintf("%s.extraPortMappings[%d]", field, j)
			proto := v1alpha4.PortMappingProtocol(strings.ToUpper(pm.Protocol))
			switch proto {
			case "", v1alpha4.PortMappingProtocolTCP, v1alpha4.PortMappingProtocolUDP, v1alpha4.PortMappingProtocolSCTP:
			default:
				problems = append(problems, fmt.Sprintf("%s.protocol %q: want TCP, UDP or SCTP", pfield, pm.Protocol))
			}
			if pm.ContainerPort < 1 || pm.ContainerPort > 65535 {
				problems = append(problems, fmt.Sprintf("%s.containerPort %d: want 1-65535", pfield, pm.ContainerPort))
			}
			// kind reads hostPort 0 as "pick a free port", and -1 likewise.
			if pm.HostPort < -1 || pm.HostPort > 65535 {
				problems = append(problems, fmt.Sprintf("%s.hostPort %d: want 0-65535 (0 picks a free port)", pfield, pm.HostPort))
			}
			if pm.ListenAddress != "" && net.ParseIP(pm.ListenAddress) == nil {
				problems = append(problems, fmt.Sprintf("%s.listenAddress %q: want an IP address", pfield, pm.ListenAddress))
			}
			node.ExtraPortMappings = append(node.ExtraPortMappings, v1alpha4.PortMapping{
				ContainerPort: pm.ContainerPort,
				HostPort:      pm.HostPort,
				ListenAddress: pm.ListenAddress,
				Protocol:      proto,
			})
		}
		c.Nodes = append(c.Nodes, node)
	}
	if controlPlanes == 0 {
		problems = append(problems, "spec.cluster.kind.nodes: at least one node must have role control-plane")
	}
	if len(problems) > 0 {
		return nil, errs.Inputf("kind configuration of cluster %s:\n  %s", name, strings.Join(problems, "\n  "))
	}
	return c, nil
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
