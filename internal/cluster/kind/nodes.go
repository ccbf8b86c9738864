package kind

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/envctl/envctl/internal/cluster"
)

// Labels kind puts on the containers of a cluster.
const (
	clusterLabel = "io.x-k8s.kind.cluster"
	roleLabel    = "io.x-k8s.kind.role"
	// lbRole is the role of the load balancer in front of several
	// control planes; it must run before the nodes can reach the API.
	lbRole = "external-load-balancer"
)

// container is one of a cluster's containers as the runtime sees it.
type container struct {
	Name   string
	Role   string
	Status string // running, exited, created, paused, ...
	Image  string
	// Ports are the published ports, as "ADDR:HOSTPORT->PORT/PROTO".
	Ports []string
	// Binds are the bind mounts, as "HOST:CONTAINER[:OPTIONS]".
	Binds []string
}

func (c container) running() bool { return c.Status == "running" }

// inspected is the part of `docker inspect` (and podman's and nerdctl's,
// which follow it) envctl reads.
type inspected struct {
	Name  string
	State struct {
		Status string
	}
	Config struct {
		Image  string
		Labels map[string]string
	}
	HostConfig struct {
		PortBindings map[string][]struct {
			HostIP   string `json:"HostIp"`
			HostPort string
		}
		Binds []string
	}
}

// containerNames lists the names of cluster name's node containers,
// running or stopped.
func containerNames(ctx context.Context, rt *cluster.Runtime, name string) ([]string, error) {
	out, err := run(ctx, rt, nil, "ps", "-a", "--filter", "label="+clusterLabel+"="+name, "--format", "{{.Names}}")
	if err != nil {
		return nil, err
	}
	return lines(out), nil
}

// listContainers returns the containers of cluster name, stopped ones
// included (kind lists those too), sorted by name.
func listContainers(ctx context.Context, rt *cluster.Runtime, name string) ([]container, error) {
	names, err := containerNames(ctx, rt, name)
	if err != nil || len(names) == 0 {
		return nil, err
	}
	out, err := run(ctx, rt, nil, append([]string{"inspect"}, names...)...)
	if err != nil {
		return nil, err
	}
	var all []inspected
	if err := json.Unmarshal(out, &all); err != nil {
		return nil, fmt.Errorf("%s inspect: %w", rt.Client(), err)
	}
	var cs []container
	for _, in := range all {
		c := container{
			Name:   strings.TrimPrefix(in.Name, "/"),
			Role:   in.Config.Labels[roleLabel],
			Status: in.State.Status,
			Image:  in.Config.Image,
			Binds:  in.HostConfig.Binds,
		}
		for port, bindings := range in.HostConfig.PortBindings {
			for _, b := range bindings {
				c.Ports = append(c.Ports, fmt.Sprintf("%s:%s->%s", b.HostIP, b.HostPort, strings.ToUpper(port)))
			}
		}
		slices.Sort(c.Ports)
		cs = append(cs, c)
	}
	slices.SortFunc(cs, func(a, b container) int { return strings.Compare(a.Name, b.Name) })
	return cs, nil
}

// stopped lists the containers that are not running.
func stopped(cs []container) []container {
	var out []container
	for _, c := range cs {
		if !c.running() {
			out = append(out, c)
		}
	}
	return out
}

// startContainers starts the stopped containers of a cluster, the load
// balancer first: a reboot, or a podman machine restart, leaves kind's
// containers exited (podman gives them no restart policy), and kind
// itself never starts them again.
func startContainers(ctx context.Context, rt *cluster.Runtime, cs []container) error {
	var lb, nodes []string
	for _, c := range stopped(cs) {
		if c.Role == lbRole {
			lb = append(lb, c.Name)
		} else {
			nodes = append(nodes, c.Name)
		}
	}
	for _, group := range [][]string{lb, nodes} {
		if len(group) == 0 {
			continue
		}
		if _, err := run(ctx, rt, nil, append([]string{"start"}, group...)...); err != nil {
			return err
		}
	}
	return nil
}

// names lists the containers' names.
func names(cs []container) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Name
	}
	return out
}

// stoppedMessage says that a cluster's nodes are stopped and what starts
// them.
func stoppedMessage(name string, cs []container) string {
	return fmt.Sprintf("kind cluster %s is stopped (containers %s are not running, as after a reboot); `envctl cluster create %s` or `envctl up` starts it",
		name, strings.Join(names(stopped(cs)), ", "), name)
}
