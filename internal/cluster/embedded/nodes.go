package embedded

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/envctl/envctl/internal/cluster/embedded/nodesim"
	"github.com/envctl/envctl/internal/errs"
)

// simulatorOptions are the node simulator's options for opts.
func simulatorOptions(opts Options) nodesim.Options {
	return nodesim.Options{
		Pools:          opts.Nodes,
		PodCIDR:        opts.PodCIDR,
		KubeletVersion: KubernetesVersion(),
		Logger:         opts.Logger,
	}
}

// newSimulator prepares the simulator, which acts under its own identity.
func newSimulator(server string, p *pki, opts Options) (*nodesim.Simulator, error) {
	cfg, err := restConfig(server, p.ca.certPEM(), p.nodeSim)
	if err != nil {
		return nil, err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("node simulator client: %w", err)
	}
	return nodesim.New(client, simulatorOptions(opts))
}

// WaitUsable waits until every simulated node is Ready and schedulable (the
// node lifecycle controller has lifted its not-ready taint) and the
// ServiceAccount "default" exists in the namespace "default", without which
// no pod can be created there.
func (cp *ControlPlane) WaitUsable(ctx context.Context) error {
	client, err := kubernetes.NewForConfig(cp.RESTConfig())
	if err != nil {
		return fmt.Errorf("embedded cluster: client: %w", err)
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		why := cp.usable(ctx, client)
		if why == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return errs.Timeout(fmt.Errorf("embedded cluster not usable: %s: %w", why, ctx.Err()))
		case <-cp.done:
			return fmt.Errorf("embedded cluster stopped before it was usable: %w", cp.Wait())
		case <-tick.C:
		}
	}
}

// usable returns what the cluster still lacks, or "" once it is usable.
func (cp *ControlPlane) usable(ctx context.Context, client kubernetes.Interface) string {
	if _, err := client.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{}); err != nil {
		return "no ServiceAccount default/default yet"
	}
	for _, name := range cp.nodeNames {
		node, err := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return fmt.Sprintf("node %s not registered", name)
		}
		if !nodeReady(node) {
			return fmt.Sprintf("node %s not Ready", name)
		}
		for _, t := range node.Spec.Taints {
			if t.Key == corev1.TaintNodeNotReady || t.Key == corev1.TaintNodeUnreachable {
				return fmt.Sprintf("node %s still tainted %s", name, t.Key)
			}
		}
	}
	return ""
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// NodeNames returns the names of the simulated nodes.
func (cp *ControlPlane) NodeNames() []string {
	return append([]string(nil), cp.nodeNames...)
}
