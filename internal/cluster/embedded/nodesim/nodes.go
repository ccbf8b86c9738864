package nodesim

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
)

// leaseDuration is what the leases claim; the node lifecycle controller
// marks a node unknown once a lease is this stale.
const leaseDuration = 40

// statusRefresh is how often the Ready condition's heartbeat is refreshed.
// With leases, the kubelet reports unchanged status every five minutes.
const statusRefresh = time.Minute

// nodeObject is the desired Node: spec, labels and status.
func nodeObject(name, pool string, labels map[string]string, taints []corev1.Taint,
	capacity, allocatable corev1.ResourceList, ip netip.Addr, podCIDR netip.Prefix, kubeletVersion string) *corev1.Node {
	l := map[string]string{
		"kubernetes.io/hostname":  name,
		"kubernetes.io/os":        "linux",
		"kubernetes.io/arch":      arch,
		"beta.kubernetes.io/os":   "linux",
		"beta.kubernetes.io/arch": arch,
		LabelSimulated:            "true",
		LabelPool:                 pool,
	}
	maps.Copy(l, labels)
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l},
		Spec: corev1.NodeSpec{
			PodCIDR:  podCIDR.String(),
			PodCIDRs: []string{podCIDR.String()},
			Taints:   taints,
		},
		Status: corev1.NodeStatus{
			Capacity:    capacity,
			Allocatable: allocatable,
			Phase:       corev1.NodeRunning,
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: ip.String()},
				{Type: corev1.NodeHostName, Address: name},
			},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: 10250}},
			NodeInfo: corev1.NodeSystemInfo{
				MachineID:               name,
				SystemUUID:              name,
				BootID:                  name,
				KernelVersion:           "simulated",
				OSImage:                 "envctl simulated node",
				ContainerRuntimeVersion: "envctl-simulated://0",
				KubeletVersion:          kubeletVersion,
				OperatingSystem:         "linux",
				Architecture:            arch,
			},
		},
	}
}

// conditions are a healthy node's conditions, heartbeat at now.
func conditions(now metav1.Time, since metav1.Time) []corev1.NodeCondition {
	c := func(t corev1.NodeConditionType, s corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: t, Status: s, Reason: reason, Message: msg, LastHeartbeatTime: now, LastTransitionTime: since}
	}
	return []corev1.NodeCondition{
		c(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "simulated node has sufficient memory"),
		c(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "simulated node has no disk pressure"),
		c(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "simulated node has sufficient PID available"),
		c(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "simulated node is posting ready status"),
	}
}

// registerNodes creates the nodes, or brings existing ones in line with
// the pools, marks them Ready, and removes simulated nodes that no pool
// declares any more.
func (s *Simulator) registerNodes(ctx context.Context) error {
	for _, n := range s.nodes {
		if err := retry(ctx, func() error { return s.registerNode(ctx, n) }); err != nil {
			return fmt.Errorf("register node %s: %w", n.node.Name, err)
		}
	}
	list, err := s.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: LabelSimulated + "=true"})
	if err != nil {
		return fmt.Errorf("list simulated nodes: %w", err)
	}
	for _, n := range list.Items {
		if _, ok := s.byName[n.Name]; ok {
			continue
		}
		s.logger.Info("removing simulated node no pool declares", "node", n.Name)
		if err := s.client.CoreV1().Nodes().Delete(ctx, n.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete node %s: %w", n.Name, err)
		}
	}
	return nil
}

func (s *Simulator) registerNode(ctx context.Context, n *simNode) error {
	nodes := s.client.CoreV1().Nodes()
	cur, err := nodes.Get(ctx, n.node.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		cur, err = nodes.Create(ctx, n.node, metav1.CreateOptions{})
		if err != nil {
			return err
		}
	case err != nil:
		return err
	default:
		upd := cur.DeepCopy()
		// Labels added since (kubectl label) stay; the pool's win.
		if upd.Labels == nil {
			upd.Labels = map[string]string{}
		}
		maps.Copy(upd.Labels, n.node.Labels)
		upd.Spec.Taints = mergeTaints(n.node.Spec.Taints, cur.Spec.Taints)
		if upd.Spec.PodCIDR == "" {
			upd.Spec.PodCIDR, upd.Spec.PodCIDRs = n.node.Spec.PodCIDR, n.node.Spec.PodCIDRs
		}
		if cur, err = nodes.Update(ctx, upd, metav1.UpdateOptions{}); err != nil {
			return err
		}
	}
	if err := s.updateNodeStatus(ctx, cur, n); err != nil {
		return err
	}
	return s.renewLease(ctx, cur)
}

// mergeTaints keeps the declared taints and those the control plane put on
// the node (node.kubernetes.io/*, such as not-ready, which the node lifecycle
// controller removes itself once the node is Ready).
func mergeTaints(declared, current []corev1.Taint) []corev1.Taint {
	out := append([]corev1.Taint(nil), declared...)
	for _, t := range current {
		if strings.HasPrefix(t.Key, "node.kubernetes.io/") {
			out = append(out, t)
		}
	}
	return out
}

// updateNodeStatus writes the node's desired status with fresh heartbeats.
func (s *Simulator) updateNodeStatus(ctx context.Context, cur *corev1.Node, n *simNode) error {
	now := metav1.Now()
	since := now
	for _, c := range cur.Status.Conditions {
		if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
			since = c.LastTransitionTime
		}
	}
	upd := cur.DeepCopy()
	upd.Status = *n.node.Status.DeepCopy()
	upd.Status.Conditions = conditions(now, since)
	upd.Status.Images = cur.Status.Images
	_, err := s.client.CoreV1().Nodes().UpdateStatus(ctx, upd, metav1.UpdateOptions{})
	return err
}

// renewLease creates or renews the node's Lease in kube-node-lease. The
// last lease written is kept, so that a renewal is a single write.
func (s *Simulator) renewLease(ctx context.Context, node *corev1.Node) error {
	n := s.byName[node.Name]
	leases := s.client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	now := metav1.NewMicroTime(time.Now())
	if n.lease != nil {
		upd := n.lease.DeepCopy()
		upd.Spec.RenewTime = &now
		got, err := leases.Update(ctx, upd, metav1.UpdateOptions{})
		if err == nil {
			n.lease = got
			return nil
		}
		n.lease = nil
		if !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
			return err
		}
	}
	cur, err := leases.Get(ctx, node.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		cur, err = leases.Create(ctx, &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{
				Name:      node.Name,
				Namespace: corev1.NamespaceNodeLease,
				// As the kubelet does: the lease goes with its node.
				OwnerReferences: []metav1.OwnerReference{{
					APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID,
				}},
			},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity:       ptr.To(node.Name),
				LeaseDurationSeconds: ptr.To[int32](leaseDuration),
				RenewTime:            &now,
			},
		}, metav1.CreateOptions{})
		if err != nil {
			return err
		}
		n.lease = cur
		return nil
	}
	if err != nil {
		return err
	}
	cur.Spec.HolderIdentity = ptr.To(node.Name)
	cur.Spec.LeaseDurationSeconds = ptr.To[int32](leaseDuration)
	cur.Spec.RenewTime = &now
	if cur, err = leases.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
		return err
	}
	n.lease = cur
	return nil
}

// heartbeat renews the leases every LeaseRenewInterval and refreshes node
// status every statusRefresh, until ctx ends. A node deleted from outside
// (its lease goes with it) is registered again, as a kubelet would do.
func (s *Simulator) heartbeat(ctx context.Context) {
	lastStatus := time.Now()
	wait.Until(func() {
		refresh := time.Since(lastStatus) >= statusRefresh
		for _, n := range s.nodes {
			if err := s.beat(ctx, n, refresh); err != nil && ctx.Err() == nil {
				s.logger.Debug("node heartbeat failed", "node", n.node.Name, "error", err)
			}
		}
		if refresh {
			lastStatus = time.Now()
		}
	}, s.opts.LeaseRenewInterval, ctx.Done())
}

// beat renews one node's lease, and its status when refresh is set or the
// node is not known to exist.
func (s *Simulator) beat(ctx context.Context, n *simNode, refresh bool) error {
	if !refresh && n.lease != nil {
		err := s.renewLease(ctx, n.node)
		if err == nil || !apierrors.IsNotFound(err) {
			return err
		}
	}
	cur, err := s.client.CoreV1().Nodes().Get(ctx, n.node.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return s.registerNode(ctx, n)
	}
	if err != nil {
		return err
	}
	if err := s.updateNodeStatus(ctx, cur, n); err != nil {
		return err
	}
	return s.renewLease(ctx, cur)
}

// retry runs fn until it succeeds, backing off briefly, for start-up
// writes that race the API server's own bootstrapping (kube-node-lease
// may not exist yet).
func retry(ctx context.Context, fn func() error) error {
	var last error
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		last = fn()
		return last == nil, nil
	})
	if err != nil && last != nil {
		return last
	}
	return err
}
