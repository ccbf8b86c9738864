package e2e_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Two CI jobs on one machine bring up the same environment with
// --instance (one through ENVCTL_INSTANCE): each gets a cluster, a context
// and an inventory of its own. down of one leaves the other; cluster prune
// removes a cluster whose serve process was killed and keeps the live one.
func TestInstancesAndPrune(t *testing.T) {
	s := newSandbox(t)
	repo := t.TempDir()
	writeFiles(t, repo, map[string]string{
		"config.yaml": "apiVersion: envctl.dev/v1alpha1\nkind: Config\nmetadata:\n  name: e2e\nspec:\n  defaultEnvironment: ci\n",
		"environments/ci.yaml": `apiVersion: envctl.dev/v1alpha1
kind: Environment
metadata:
  name: ci
spec:
  cluster:
    provider: embedded
    name: jobs
  components:
    - name: app
      kustomize: overlays/app
      timeout: 1m
`,
		"overlays/app/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: default\nresources:\n  - app.yaml\n",
		"overlays/app/app.yaml":           "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-settings\ndata:\n  mode: test\n",
	})

	// Both jobs at once, one naming its instance with the flag, the
	// other with the variable.
	var wg sync.WaitGroup
	results := make([]result, 2)
	wg.Go(func() { results[0] = s.run("-C", repo, "up", "ci", "--instance", "a") })
	wg.Go(func() { results[1] = s.runEnv([]string{"ENVCTL_INSTANCE=b"}, "-C", repo, "up", "ci") })
	wg.Wait()
	for _, r := range results {
		if r.code != 0 {
			t.Fatalf("%v", r)
		}
	}
	kc := s.loadKubeconfig()
	servers := map[string]bool{}
	for _, name := range []string{"jobs-a", "jobs-b"} {
		c, cfg := s.client(name)
		servers[cfg.Host] = true
		if _, err := c.CoreV1().ConfigMaps("envctl-system").Get(context.Background(), "envctl-inventory-ci", metav1.GetOptions{}); err != nil {
			t.Errorf("inventory of environment ci in cluster %s: %v", name, err)
		}
		if _, err := c.CoreV1().ConfigMaps("default").Get(context.Background(), "app-settings", metav1.GetOptions{}); err != nil {
			t.Errorf("ConfigMap app-settings in cluster %s: %v", name, err)
		}
		if kc.Contexts["envctl-"+name] == nil {
			t.Errorf("no context envctl-%s in the kubeconfig", name)
		}
	}
	if len(servers) != 2 {
		t.Fatalf("the two instances share an API server: %v", servers)
	}
	if kc.CurrentContext != "envctl-jobs-a" && kc.CurrentContext != "envctl-jobs-b" {
		t.Errorf("current context %q, want the cluster created last", kc.CurrentContext)
	}

	// down of one instance leaves the other.
	pidB := s.pid("jobs-b")
	s.mustRun("-C", repo, "down", "ci", "--instance", "a", "--yes")
	if _, err := os.Stat(s.clusterDir("jobs-a")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state of jobs-a after its down: %v, want it gone", err)
	}
	kc = s.loadKubeconfig()
	if kc.Contexts["envctl-jobs-a"] != nil || kc.Contexts["envctl-jobs-b"] == nil {
		t.Errorf("contexts after down of instance a: %v, want only jobs-b's", keys(kc.Contexts))
	}
	if !alive(pidB) {
		t.Fatal("the serve process of instance b died with instance a's down")
	}
	s.mustRun("-C", repo, "status", "ci", "--instance", "b")

	// A job that is killed leaves its cluster; prune removes it once its
	// serve process is gone, and keeps the live one.
	s.mustRun("-C", repo, "up", "ci", "--instance", "c")
	pidC := s.pid("jobs-c")
	if err := syscall.Kill(pidC, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); alive(pidC) && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	r := s.mustRun("cluster", "prune", "--dry-run", "-o", "json")
	var plan struct {
		DryRun  bool
		Removed []struct{ Name, Reason string }
		Kept    []struct{ Name string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &plan); err != nil {
		t.Fatalf("prune -o json: %v\n%v", err, r)
	}
	if !plan.DryRun || len(plan.Removed) != 1 || plan.Removed[0].Name != "jobs-c" || len(plan.Kept) != 1 || plan.Kept[0].Name != "jobs-b" {
		t.Fatalf("prune --dry-run: %+v; want jobs-c removed, jobs-b kept", plan)
	}
	if _, err := os.Stat(s.clusterDir("jobs-c")); err != nil {
		t.Errorf("--dry-run deleted jobs-c: %v", err)
	}
	r = s.mustRun("cluster", "prune")
	if !strings.Contains(r.stdout, "Deleted embedded cluster jobs-c: its serve process is gone.") {
		t.Errorf("prune does not say what it deleted:\n%v", r)
	}
	if _, err := os.Stat(s.clusterDir("jobs-c")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state of jobs-c after prune: %v, want it gone", err)
	}
	kc = s.loadKubeconfig()
	if kc.Contexts["envctl-jobs-c"] != nil || kc.Contexts["envctl-jobs-b"] == nil {
		t.Errorf("contexts after prune: %v, want only jobs-b's", keys(kc.Contexts))
	}
	if !alive(pidB) {
		t.Error("prune killed the live instance b")
	}
	// An age limit the live cluster has not reached keeps it.
	r = s.mustRun("cluster", "prune", "--older-than", "1h")
	if !strings.Contains(r.stdout, "No cluster to prune.") || !alive(pidB) {
		t.Errorf("prune --older-than 1h of a young cluster:\n%v", r)
	}
	s.mustRun("-C", repo, "down", "ci", "--instance", "b", "--yes")
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
