package kind

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/envctl/envctl/internal/cluster"
	"github.com/envctl/envctl/internal/cluster/kubeconfig"
	"github.com/envctl/envctl/internal/config"
)

// TestKindCluster creates a real two-node kind cluster. It needs a
// container runtime, so it skips, saying why, where none answers.
func TestKindCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("creates a kind cluster; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	rt, err := cluster.DetectRuntime(ctx, cluster.DetectOptions{})
	if err != nil {
		t.Skipf("did not run: this test creates a real kind cluster and needs a container runtime whose daemon answers, and none does here (%v); the kind provider's behaviour is covered by the tests against the fake runtime", err)
	}
	name := fmt.Sprintf("envctl-it-%d", os.Getpid())
	p := New(cluster.Options{StateDir: t.TempDir(), Runtime: rt})
	t.Cleanup(func() {
		if ok, _ := p.Exists(context.Background(), name); ok {
			if err := p.Delete(context.Background(), name); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	})

	spec := cluster.Spec{Name: name, Cluster: config.ClusterSpec{Kind: &config.KindSpec{Nodes: []config.KindNode{
		{Role: "control-plane"},
		{Role: "worker", Labels: map[string]string{"envctl.dev/pool": "cpu"}},
	}}}}
	info, err := p.Ensure(ctx, spec)
	if err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	if info.Status != cluster.StatusRunning || info.Nodes != 2 || info.Version == "" || info.Server == "" {
		t.Errorf("Info = %+v, want a running cluster with 2 nodes, a version and a server", info)
	}

	rc, err := p.RESTConfig(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	cs := kubernetes.NewForConfigOrDie(rc)
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: "envctl.dev/pool=cpu"})
	if err != nil || len(nodes.Items) != 1 {
		t.Errorf("nodes labelled envctl.dev/pool=cpu: %v, %v; want the worker", nodes, err)
	}

	kc, err := p.Kubeconfig(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.Load(kc)
	if err != nil || cfg.CurrentContext != kubeconfig.KindContextName(name) {
		t.Errorf("kubeconfig current-context = %q, %v", cfg.CurrentContext, err)
	}

	// A second Ensure finds the cluster and creates nothing: the same
	// containers run, none started or made again.
	before, err := listContainers(ctx, rt, name)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := p.Ensure(ctx, spec); err != nil {
		t.Fatalf("second Ensure: %v", err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("second Ensure took %v; it should only check the cluster", d)
	}
	after, err := listContainers(ctx, rt, name)
	if err != nil || strings.Join(names(before), ",") != strings.Join(names(after), ",") || len(stopped(after)) > 0 {
		t.Errorf("containers before the second Ensure %v, after %v (%v); want the same, running", names(before), names(after), err)
	}

	// After a reboot the containers are stopped; Ensure starts them.
	if _, err := run(ctx, rt, nil, append([]string{"stop"}, names(after)...)...); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Ensure(ctx, spec); err != nil {
		t.Fatalf("Ensure of the stopped cluster: %v", err)
	}

	list, err := p.List(ctx)
	if err != nil || len(list) != 1 || list[0].Name != name || list[0].Status != cluster.StatusRunning {
		t.Errorf("List = %+v, %v", list, err)
	}
	if err := p.Delete(ctx, name); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if ok, _ := p.Exists(ctx, name); ok {
		t.Errorf("cluster exists after Delete")
	}
	if left, err := listContainers(ctx, rt, name); err != nil || len(left) > 0 {
		t.Errorf("containers left after Delete: %v, %v", names(left), err)
	}
}
