package nodesim

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/errs"
)

func TestBuildNodes(t *testing.T) {
	sim, err := New(nil, Options{
		KubeletVersion: "v1.37.2",
		Pools: []config.NodePool{
			{Count: 2},
			{
				Name:        "gpu",
				Count:       1,
				Capacity:    map[string]string{"cpu": "32", "memory": "128Gi", "nvidia.com/gpu": "4"},
				Allocatable: map[string]string{"cpu": "31", "memory": "120Gi", "nvidia.com/gpu": "4"},
				Labels:      map[string]string{"accelerator": "a100"},
				Taints:      []config.Taint{{Key: "nvidia.com/gpu", Value: "present", Effect: "NoSchedule"}},
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"node-0", "node-1", "gpu-0"}, sim.NodeNames()); diff != "" {
		t.Fatalf("node names (-want +got):\n%s", diff)
	}
	type summary struct {
		PodCIDR     string
		IP          string
		Pool        string
		Labels      map[string]string
		Taints      []corev1.Taint
		Capacity    map[string]string
		Allocatable map[string]string
	}
	quantities := func(l corev1.ResourceList) map[string]string {
		out := map[string]string{}
		for k, v := range l {
			out[string(k)] = v.String()
		}
		return out
	}
	var got []summary
	for _, n := range sim.nodes {
		got = append(got, summary{
			PodCIDR:     n.node.Spec.PodCIDR,
			IP:          n.node.Status.Addresses[0].Address,
			Pool:        n.node.Labels[LabelPool],
			Labels:      map[string]string{"accelerator": n.node.Labels["accelerator"], "hostname": n.node.Labels["kubernetes.io/hostname"]},
			Taints:      n.node.Spec.Taints,
			Capacity:    quantities(n.node.Status.Capacity),
			Allocatable: quantities(n.node.Status.Allocatable),
		})
	}
	defaults := map[string]string{"cpu": "8", "memory": "32Gi", "pods": "110", "ephemeral-storage": "100Gi"}
	want := []summary{
		{PodCIDR: "10.244.0.0/24", IP: "172.30.0.2", Pool: "node", Labels: map[string]string{"accelerator": "", "hostname": "node-0"}, Capacity: defaults, Allocatable: defaults},
		{PodCIDR: "10.244.1.0/24", IP: "172.30.0.3", Pool: "node", Labels: map[string]string{"accelerator": "", "hostname": "node-1"}, Capacity: defaults, Allocatable: defaults},
		{
			PodCIDR: "10.244.2.0/24", IP: "172.30.0.4", Pool: "gpu",
			Labels:      map[string]string{"accelerator": "a100", "hostname": "gpu-0"},
			Taints:      []corev1.Taint{{Key: "nvidia.com/gpu", Value: "present", Effect: corev1.TaintEffectNoSchedule}},
			Capacity:    map[string]string{"cpu": "32", "memory": "128Gi", "nvidia.com/gpu": "4", "pods": "110", "ephemeral-storage": "100Gi"},
			Allocatable: map[string]string{"cpu": "31", "memory": "120Gi", "nvidia.com/gpu": "4"},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("nodes (-want +got):\n%s", diff)
	}
	if v := sim.nodes[0].node.Status.NodeInfo.KubeletVersion; v != "v1.37.2" {
		t.Errorf("kubelet version %q", v)
	}
}

func TestBuildNodesReportsEveryProblem(t *testing.T) {
	_, err := New(nil, Options{Pools: []config.NodePool{
		{Name: "Bad_Name", Count: 1},
		{Name: "a", Count: -1, Capacity: map[string]string{"cpu": "lots", "memory": "-1Gi"}},
		{Name: "a", Count: 1, Capacity: map[string]string{"cpu": "2"}, Allocatable: map[string]string{"cpu": "4", "gpu": "1"}},
		{Name: "t", Count: 1, Taints: []config.Taint{{Key: "k", Effect: "Sometimes"}}, Labels: map[string]string{"ok": "not ok!"}},
	}})
	if errs.KindOf(err) != errs.KindInput {
		t.Fatalf("error kind %v, want input: %v", errs.KindOf(err), err)
	}
	for _, want := range []string{
		`node pool 1 (Bad_Name): name:`,
		`node pool 2 (a): count -1 is negative`,
		`node pool 2 (a): capacity: cpu: "lots" is not a quantity`,
		`node pool 2 (a): capacity: memory: "-1Gi" is negative`,
		`node pool 3 (a): another pool has the same name`,
		`node pool 3 (a): allocatable cpu 4 exceeds capacity 2`,
		`node pool 3 (a): allocatable gpu is not in capacity`,
		`node pool 4 (t): taint 1: effect "Sometimes"`,
		`node pool 4 (t): label ok value "not ok!"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
}

func TestBuildNodesPodCIDRExhausted(t *testing.T) {
	_, err := New(nil, Options{PodCIDR: "10.0.0.0/23", Pools: []config.NodePool{{Count: 3}}})
	if err == nil || !strings.Contains(err.Error(), "has no /24 left for node node-2") {
		t.Fatalf("err %v, want the pod CIDR reported exhausted at node-2", err)
	}
}

func TestIPPool(t *testing.T) {
	p, err := newIPPool("10.0.0.0/29") // .2 to .6 usable
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, owner := range []string{"a", "b", "c", "d", "e"} {
		a, err := p.allocate(owner)
		if err != nil {
			t.Fatalf("allocate %s: %v", owner, err)
		}
		got = append(got, a.String())
	}
	if diff := cmp.Diff([]string{"10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"}, got); diff != "" {
		t.Errorf("allocations (-want +got):\n%s", diff)
	}
	if _, err := p.allocate("f"); err != errPoolExhausted {
		t.Errorf("allocate from a full pool: %v, want exhausted", err)
	}
	if a, _ := p.allocate("c"); a.String() != "10.0.0.4" {
		t.Errorf("owner c asked again got %s, want its 10.0.0.4", a)
	}
	p.release("c")
	if a, err := p.allocate("f"); err != nil || a.String() != "10.0.0.4" {
		t.Errorf("allocate after release: %v %v, want 10.0.0.4", a, err)
	}
	if p.reserve("g", netip.MustParseAddr("10.0.0.5")) {
		t.Error("reserve of an address held by d succeeded")
	}
	if p.reserve("g", netip.MustParseAddr("10.0.0.7")) {
		t.Error("reserve of the broadcast address succeeded")
	}
	if _, err := newIPPool("10.0.0.0/31"); err == nil {
		t.Error("a /31 pool was accepted")
	}
}

func TestSubnet24(t *testing.T) {
	p := netip.MustParsePrefix("10.244.0.0/16")
	for i, want := range map[int]string{0: "10.244.0.0/24", 1: "10.244.1.0/24", 255: "10.244.255.0/24"} {
		got, ok := subnet24(p, i)
		if !ok || got.String() != want {
			t.Errorf("subnet %d: %v %v, want %s", i, got, ok, want)
		}
	}
	if _, ok := subnet24(p, 256); ok {
		t.Error("subnet 256 of a /16 exists")
	}
}

func TestMergeTaintsKeepsControlPlaneTaints(t *testing.T) {
	declared := []corev1.Taint{{Key: "dedicated", Value: "ml", Effect: corev1.TaintEffectNoSchedule}}
	current := []corev1.Taint{
		{Key: "removed-by-user", Effect: corev1.TaintEffectNoSchedule},
		{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoSchedule},
	}
	want := []corev1.Taint{declared[0], current[1]}
	if diff := cmp.Diff(want, mergeTaints(declared, current)); diff != "" {
		t.Errorf("taints (-want +got):\n%s", diff)
	}
}

func TestResourceListDefaults(t *testing.T) {
	got, problems := resourceList("pool", map[string]string{"cpu": "500m"}, map[string]string{"cpu": "8", "pods": "110"})
	if len(problems) != 0 {
		t.Fatal(problems)
	}
	want := corev1.ResourceList{"cpu": resource.MustParse("500m"), "pods": resource.MustParse("110")}
	if !cmp.Equal(want, got, cmp.Comparer(func(a, b resource.Quantity) bool { return a.Cmp(b) == 0 })) {
		t.Errorf("got %v, want %v", got, want)
	}
}
