package cli

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/envctl/envctl/internal/daemon/manifests"
	"github.com/envctl/envctl/internal/loop"
	"github.com/envctl/envctl/internal/testenv"
)

// TestDaemonInstallPDBAndGracePeriod installs a daemon of two replicas,
// then of one: the PodDisruptionBudget exists with two and is pruned with
// one (minAvailable 1 over one replica would block every drain of its
// node); the pods' grace period outlasts the daemon's shutdown budget; the
// Service exposes the webhook alone.
func TestDaemonInstallPDBAndGracePeriod(t *testing.T) {
	e := newE2E(t, "daemonpdb")
	te := testenv.Get(t)
	ctx := t.Context()
	e.overlay(daemonEnvResources(), "")
	name := manifests.Name(e.env)
	t.Cleanup(func() {
		// The objects outside the test's namespace would outlive it.
		ctx := context.Background()
		rbac := te.Clientset().RbacV1()
		_ = rbac.ClusterRoles().Delete(ctx, name, metav1.DeleteOptions{})
		_ = rbac.ClusterRoleBindings().Delete(ctx, name, metav1.DeleteOptions{})
		crds := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
		_ = te.Dynamic().Resource(crds).Delete(ctx, "gadgets.install.e2e.envctl.dev", metav1.DeleteOptions{})
	})
	// Found by label, wherever the installation puts them.
	selector := metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + name}
	cs := te.Clientset()
	install := func(replicas string) {
		t.Helper()
		e.mustRun(ExitOK, "daemon", "install", e.env, "--git", "https://git.example.invalid/platform.git", "--branch", "main",
			"--image", "registry.example/envctl:test", "--kubeconfig", e.kubeconfig, "--timeout", "90s", "--replicas", replicas)
	}
	pdbs := func() int {
		t.Helper()
		l, err := cs.PolicyV1().PodDisruptionBudgets("").List(ctx, selector)
		if err != nil {
			t.Fatal(err)
		}
		return len(l.Items)
	}

	install("2")
	if n := pdbs(); n != 1 {
		t.Errorf("two replicas: %d PodDisruptionBudgets, want 1", n)
	}
	deps, err := cs.AppsV1().Deployments("").List(ctx, selector)
	if err != nil || len(deps.Items) != 1 {
		t.Fatalf("the daemon's Deployment: %v, %v", deps, err)
	}
	grace := deps.Items[0].Spec.Template.Spec.TerminationGracePeriodSeconds
	if grace == nil || time.Duration(*grace)*time.Second <= loop.ShutdownBudget {
		t.Errorf("terminationGracePeriodSeconds %v, want longer than the shutdown budget %s", grace, loop.ShutdownBudget)
	}
	svcs, err := cs.CoreV1().Services("").List(ctx, selector)
	if err != nil || len(svcs.Items) != 1 {
		t.Fatalf("the daemon's Service: %v, %v", svcs, err)
	}
	if ports := svcs.Items[0].Spec.Ports; len(ports) != 1 || ports[0].TargetPort.String() != "http-webhook" {
		t.Errorf("Service ports %+v, want the webhook's alone", ports)
	}

	install("1")
	if n := pdbs(); n != 0 {
		t.Errorf("one replica: %d PodDisruptionBudgets, want none (an earlier install's pruned)", n)
	}
}
