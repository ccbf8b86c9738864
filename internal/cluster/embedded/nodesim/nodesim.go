// Package nodesim stands in for the kubelets, the storage provisioner and
// the load-balancer controller of a cluster that runs no containers.
//
// It registers nodes with declared capacity and keeps them Ready with Lease
// heartbeats; reports pods bound to them Running and Ready with pod IPs, so
// that Deployments, StatefulSets and DaemonSets become available and Services
// get endpoints; lets pods of Jobs run briefly and succeed; removes pods once
// they are being deleted; provisions a PersistentVolume for each claim of its
// default StorageClass; and gives LoadBalancer Services an ingress IP. All of
// it is driven by informers: an idle cluster costs a lease renewal per node
// every few seconds and nothing else.
package nodesim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"sort"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/errs"
)

// Labels and annotations the simulator sets or reads.
const (
	// LabelSimulated marks nodes the simulator owns.
	LabelSimulated = "envctl.dev/simulated"
	// LabelPool names the node pool of a simulated node.
	LabelPool = "envctl.dev/node-pool"
	// AnnotationExitCode on a pod makes its containers exit with this code
	// (pods of Jobs only): "1" lets a test see a Job fail.
	AnnotationExitCode = "envctl.dev/simulated-exit-code"
	// AnnotationReady set to "false" on a pod keeps it Running but not
	// Ready, for testing what a stuck rollout looks like.
	AnnotationReady = "envctl.dev/simulated-ready"
)

// Defaults of Options.
const (
	DefaultPodCIDR          = "10.244.0.0/16"
	DefaultNodeCIDR         = "172.30.0.0/24"
	DefaultLoadBalancerCIDR = "172.30.255.0/24"
	DefaultProvisioner      = "envctl.dev/embedded"
	DefaultStorageClass     = "standard"
	DefaultPoolName         = "node"
)

// DefaultCapacity is a node's capacity where its pool declares none.
var DefaultCapacity = map[string]string{
	"cpu":               "8",
	"memory":            "32Gi",
	"pods":              "110",
	"ephemeral-storage": "100Gi",
}

// Options configure a Simulator.
type Options struct {
	// Pools are the groups of nodes to register.
	Pools []config.NodePool
	// PodCIDR is split into one /24 per node; DefaultPodCIDR when empty.
	PodCIDR string
	// NodeCIDR holds the nodes' InternalIPs; DefaultNodeCIDR when empty.
	NodeCIDR string
	// LoadBalancerCIDR holds the ingress IPs of LoadBalancer Services;
	// DefaultLoadBalancerCIDR when empty.
	LoadBalancerCIDR string
	// KubeletVersion is reported in each node's nodeInfo.
	KubeletVersion string
	// JobPodRunTime is how long a pod of a Job runs before it succeeds;
	// 500ms when zero.
	JobPodRunTime time.Duration
	// LeaseRenewInterval is the heartbeat period; 10s when zero.
	LeaseRenewInterval time.Duration
	Logger             *slog.Logger
}

// Simulator plays kubelet for a set of nodes.
type Simulator struct {
	client kubernetes.Interface
	opts   Options
	logger *slog.Logger
	nodes  []*simNode
	byName map[string]*simNode
	lbIPs  *ipPool
}

// simNode is one simulated node: its desired object and its pod IP pool.
type simNode struct {
	node *corev1.Node
	ips  *ipPool
	// lease is the last Lease written, touched by one goroutine at a time
	// (registration, then the heartbeat loop).
	lease *coordinationv1.Lease
}

// Validate reports every problem in opts' node pools and address ranges at
// once, naming the pool; New does the same checks.
func Validate(opts Options) error {
	opts.defaults()
	_, err := buildNodes(opts)
	if err != nil {
		return err
	}
	if _, err := newIPPool(opts.LoadBalancerCIDR); err != nil {
		return errs.Inputf("load-balancer CIDR: %w", err)
	}
	return nil
}

func (opts *Options) defaults() {
	if opts.PodCIDR == "" {
		opts.PodCIDR = DefaultPodCIDR
	}
	if opts.NodeCIDR == "" {
		opts.NodeCIDR = DefaultNodeCIDR
	}
	if opts.LoadBalancerCIDR == "" {
		opts.LoadBalancerCIDR = DefaultLoadBalancerCIDR
	}
	if opts.JobPodRunTime <= 0 {
		opts.JobPodRunTime = 500 * time.Millisecond
	}
	if opts.LeaseRenewInterval <= 0 {
		opts.LeaseRenewInterval = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
}

// New validates opts and prepares the nodes. Every problem in the pools is
// reported at once, naming the pool.
func New(client kubernetes.Interface, opts Options) (*Simulator, error) {
	opts.defaults()
	nodes, err := buildNodes(opts)
	if err != nil {
		return nil, err
	}
	lb, err := newIPPool(opts.LoadBalancerCIDR)
	if err != nil {
		return nil, errs.Inputf("load-balancer CIDR: %w", err)
	}
	s := &Simulator{
		client: client,
		opts:   opts,
		logger: opts.Logger.With("component", "node-simulator"),
		nodes:  nodes,
		byName: make(map[string]*simNode, len(nodes)),
		lbIPs:  lb,
	}
	for _, n := range nodes {
		s.byName[n.node.Name] = n
	}
	return s, nil
}

// NodeNames returns the names of the simulated nodes.
func (s *Simulator) NodeNames() []string {
	names := make([]string, 0, len(s.nodes))
	for _, n := range s.nodes {
		names = append(names, n.node.Name)
	}
	return names
}

// Run registers the nodes and simulates until ctx ends. It returns an error
// only if the nodes cannot be registered.
func (s *Simulator) Run(ctx context.Context) error {
	if err := s.registerNodes(ctx); err != nil {
		return err
	}
	if err := s.ensureStorageClass(ctx); err != nil {
		return err
	}
	var wg sync.WaitGroup
	wg.Go(func() { s.heartbeat(ctx) })
	wg.Go(func() { s.runPods(ctx) })
	wg.Go(func() { s.runStorage(ctx) })
	wg.Go(func() { s.runLoadBalancers(ctx) })
	wg.Wait()
	return nil
}

// buildNodes expands the pools into node objects, validating every pool.
func buildNodes(opts Options) ([]*simNode, error) {
	podPrefix, err := netip.ParsePrefix(opts.PodCIDR)
	if err != nil || !podPrefix.Addr().Is4() || podPrefix.Bits() > 24 {
		return nil, errs.Inputf("pod CIDR %q: want an IPv4 prefix of /24 or wider", opts.PodCIDR)
	}
	nodeIPs, err := newIPPool(opts.NodeCIDR)
	if err != nil {
		return nil, errs.Inputf("node CIDR: %w", err)
	}
	var problems []error
	seen := map[string]bool{}
	var nodes []*simNode
	for i, pool := range opts.Pools {
		name := pool.Name
		if name == "" {
			name = DefaultPoolName
		}
		where := fmt.Sprintf("node pool %d (%s)", i+1, name)
		if seen[name] {
			problems = append(problems, fmt.Errorf("%s: another pool has the same name", where))
		}
		seen[name] = true
		if msgs := validation.IsDNS1123Label(name); len(msgs) > 0 {
			problems = append(problems, fmt.Errorf("%s: name: %s", where, msgs[0]))
		}
		if pool.Count < 0 {
			problems = append(problems, fmt.Errorf("%s: count %d is negative", where, pool.Count))
		}
		capacity, perr := resourceList(where+": capacity", pool.Capacity, DefaultCapacity)
		problems = append(problems, perr...)
		allocatable := capacity
		if len(pool.Allocatable) > 0 {
			var aerr []error
			allocatable, aerr = resourceList(where+": allocatable", pool.Allocatable, nil)
			problems = append(problems, aerr...)
			for res, q := range allocatable {
				if c, ok := capacity[res]; !ok {
					problems = append(problems, fmt.Errorf("%s: allocatable %s is not in capacity", where, res))
				} else if q.Cmp(c) > 0 {
					problems = append(problems, fmt.Errorf("%s: allocatable %s %s exceeds capacity %s", where, res, q.String(), c.String()))
				}
			}
		}
		for k, v := range pool.Labels {
			if msgs := validation.IsQualifiedName(k); len(msgs) > 0 {
				problems = append(problems, fmt.Errorf("%s: label key %q: %s", where, k, msgs[0]))
			}
			if msgs := validation.IsValidLabelValue(v); len(msgs) > 0 {
				problems = append(problems, fmt.Errorf("%s: label %s value %q: %s", where, k, v, msgs[0]))
			}
		}
		taints, terr := taintList(where, pool.Taints)
		problems = append(problems, terr...)
		for j := 0; j < pool.Count; j++ {
			idx := len(nodes)
			nodeName := fmt.Sprintf("%s-%d", name, j)
			podCIDR, ok := subnet24(podPrefix, idx)
			if !ok {
				problems = append(problems, fmt.Errorf("%s: pod CIDR %s has no /24 left for node %s", where, opts.PodCIDR, nodeName))
				break
			}
			nodeIP, err := nodeIPs.allocate(nodeName)
			if err != nil {
				problems = append(problems, fmt.Errorf("%s: node CIDR %s has no address left for node %s", where, opts.NodeCIDR, nodeName))
				break
			}
			ips, err := newIPPool(podCIDR.String())
			if err != nil {
				return nil, err
			}
			node := nodeObject(nodeName, name, pool.Labels, taints, capacity, allocatable, nodeIP, podCIDR, opts.KubeletVersion)
			nodes = append(nodes, &simNode{node: node, ips: ips})
		}
	}
	if err := errors.Join(problems...); err != nil {
		return nil, errs.Input(err)
	}
	return nodes, nil
}

// resourceList parses quantities, filling in defaults for missing names.
func resourceList(where string, in, defaults map[string]string) (corev1.ResourceList, []error) {
	out := corev1.ResourceList{}
	var problems []error
	for k, v := range defaults {
		if _, ok := in[k]; !ok {
			out[corev1.ResourceName(k)] = resource.MustParse(v)
		}
	}
	keys := make([]string, 0, len(in))
	for k := range in {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if msgs := validation.IsQualifiedName(k); len(msgs) > 0 {
			problems = append(problems, fmt.Errorf("%s: resource name %q: %s", where, k, msgs[0]))
			continue
		}
		q, err := resource.ParseQuantity(in[k])
		if err != nil {
			problems = append(problems, fmt.Errorf("%s: %s: %q is not a quantity", where, k, in[k]))
			continue
		}
		if q.Sign() < 0 {
			problems = append(problems, fmt.Errorf("%s: %s: %q is negative", where, k, in[k]))
			continue
		}
		out[corev1.ResourceName(k)] = q
	}
	return out, problems
}

// taintList converts and validates a pool's taints.
func taintList(where string, in []config.Taint) ([]corev1.Taint, []error) {
	var out []corev1.Taint
	var problems []error
	for i, t := range in {
		at := fmt.Sprintf("%s: taint %d", where, i+1)
		if msgs := validation.IsQualifiedName(t.Key); len(msgs) > 0 {
			problems = append(problems, fmt.Errorf("%s: key %q: %s", at, t.Key, msgs[0]))
		}
		if t.Value != "" {
			if msgs := validation.IsValidLabelValue(t.Value); len(msgs) > 0 {
				problems = append(problems, fmt.Errorf("%s: value %q: %s", at, t.Value, msgs[0]))
			}
		}
		effect := corev1.TaintEffect(t.Effect)
		switch effect {
		case corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
		default:
			problems = append(problems, fmt.Errorf("%s: effect %q is not NoSchedule, PreferNoSchedule or NoExecute", at, t.Effect))
		}
		out = append(out, corev1.Taint{Key: t.Key, Value: t.Value, Effect: effect})
	}
	return out, problems
}

// subnet24 is the i-th /24 of prefix.
func subnet24(prefix netip.Prefix, i int) (netip.Prefix, bool) {
	if i >= 1<<(24-prefix.Bits()) {
		return netip.Prefix{}, false
	}
	b := prefix.Masked().Addr().As4()
	base := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8
	base += uint32(i) << 8
	addr := netip.AddrFrom4([4]byte{byte(base >> 24), byte(base >> 16), byte(base >> 8), 0})
	return netip.PrefixFrom(addr, 24), true
}

// everything selects all objects of a lister.
var everything = labels.Everything()

// arch is the architecture simulated nodes report. Images are never pulled,
// so it only matters to nodeSelectors; the host's matches what kind gives.
var arch = runtime.GOARCH
