package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/envctl/envctl/internal/engine"
	"github.com/envctl/envctl/internal/testenv"
	"github.com/envctl/envctl/internal/ui"
)

// upRepo writes a repository whose environment dev lives on the test
// cluster (provider existing, through a kubeconfig), with two components
// of ConfigMaps in namespace ns.
func upRepo(t *testing.T, ns, kubeconfig string, extraServing string) string {
	t.Helper()
	cm := func(name string) string {
		return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s, namespace: %s}\ndata: {k: declared}\n", name, ns)
	}
	serving := "resources: [cm.yaml]\n"
	files := map[string]string{
		"config.yaml": "apiVersion: envctl.dev/v1alpha1\nkind: Config\nspec:\n  defaultEnvironment: dev\n",
		"environments/dev.yaml": fmt.Sprintf(`apiVersion: envctl.dev/v1alpha1
kind: Environment
metadata: {name: dev}
spec:
  cluster:
    provider: existing
    name: test
    existing: {kubeconfig: %q, context: envctl-test}
  components:
    - name: platform
      kustomize: overlays/dev/platform
    - name: serving
      kustomize: overlays/dev/serving
      dependsOn: [platform]
`, kubeconfig),
		"overlays/dev/platform/kustomization.yaml": "resources: [cm.yaml]\n",
		"overlays/dev/platform/cm.yaml":            cm("settings"),
		"overlays/dev/serving/cm.yaml":             cm("serving"),
	}
	if extraServing != "" {
		serving = "resources: [cm.yaml, extra.yaml]\n"
		files["overlays/dev/serving/extra.yaml"] = extraServing
	}
	files["overlays/dev/serving/kustomization.yaml"] = serving
	return writeRepoFiles(t, files)
}

func decodeSummary(t *testing.T, stdout string) ui.Summary {
	t.Helper()
	var s ui.Summary
	if err := json.Unmarshal([]byte(stdout), &s); err != nil {
		t.Fatalf("summary is not JSON: %v\n%s", err, stdout)
	}
	return s
}

func TestUpAndApplyEndToEnd(t *testing.T) {
	te := testenv.Get(t)
	ns := te.Namespace(t)
	kc := te.Kubeconfig(t)
	// Nothing may touch the user's kubeconfig.
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "config"))
	repo := upRepo(t, ns, kc, "")

	code, stdout, stderr := runCLI(t, "up", "--repo", repo, "dev", "-o", "json")
	if code != ExitOK {
		t.Fatalf("up: exit %d\n%s\n%s", code, stdout, stderr)
	}
	s := decodeSummary(t, stdout)
	if !s.Succeeded || s.Cluster.Provider != "existing" || s.Cluster.Context != "envctl-test" || s.Requests.Writes == 0 {
		t.Errorf("up summary: %+v", s)
	}
	for _, c := range s.Components {
		if c.State != engine.Healthy || c.Counts.Created != 1 {
			t.Errorf("up: component %s %s %+v", c.Name, c.State, c.Counts)
		}
	}
	if !strings.Contains(stderr, "cluster test: provider existing") {
		t.Errorf("up does not say which cluster it used:\n%s", stderr)
	}

	// Again, with apply and the text summary: nothing to do, nothing written.
	code, stdout, stderr = runCLI(t, "apply", "--repo", repo, "dev")
	if code != ExitOK {
		t.Fatalf("apply: exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"environment dev is up to date", ", 0 writes)"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("apply summary does not say %q:\n%s", want, stdout)
		}
	}
	for _, line := range strings.Split(stdout, "\n") {
		if f := strings.Fields(line); len(f) == 7 && f[0] == "platform" {
			if got := strings.Join(f[1:6], " "); got != "healthy 0 0 1 0" {
				t.Errorf("platform row = %q, want healthy, 0 created, 0 changed, 1 unchanged, 0 pruned", got)
			}
		}
	}
	if !strings.Contains(stderr, "serving: ✓ healthy (0 created, 0 changed, 1 unchanged)") || strings.Contains(stderr, "\x1b[") {
		t.Errorf("apply progress is not plain lines:\n%s", stderr)
	}

	// Another manager takes a field: a conflict, exit 5, until forced.
	cms := te.Clientset().CoreV1().ConfigMaps(ns)
	cm, err := cms.Get(context.Background(), "settings", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Data["k"] = "edited"
	if _, err := cms.Update(context.Background(), cm, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runCLI(t, "apply", "--repo", repo, "dev")
	if code != ExitConflict || !strings.Contains(stderr, ".data.k") || !strings.Contains(stderr, "kubectl-edit") {
		t.Errorf("apply after an edit: exit %d, want %d naming the field and manager\n%s", code, ExitConflict, stderr)
	}
	if !strings.Contains(stdout, "serving skipped: dependency platform failed") {
		t.Errorf("the dependent component was not reported skipped:\n%s", stdout)
	}
	code, _, stderr = runCLI(t, "apply", "--repo", repo, "dev", "--force-conflicts")
	if code != ExitOK {
		t.Fatalf("apply --force-conflicts: exit %d\n%s", code, stderr)
	}
	if cm, _ := cms.Get(context.Background(), "settings", metav1.GetOptions{}); cm.Data["k"] != "declared" {
		t.Errorf("data.k = %q after --force-conflicts, want declared", cm.Data["k"])
	}
}

func TestApplyTimeoutExitCode(t *testing.T) {
	te := testenv.Get(t)
	ns := te.Namespace(t)
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "config"))
	greedy := fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: greedy, namespace: %s}
spec:
  replicas: 1
  selector: {matchLabels: {app: greedy}}
  template:
    metadata: {labels: {app: greedy}}
    spec:
      containers: [{name: main, image: example.com/greedy:1, resources: {requests: {cpu: "1000"}}}]
`, ns)
	repo := upRepo(t, ns, te.Kubeconfig(t), greedy)
	code, stdout, stderr := runCLI(t, "apply", "--repo", repo, "dev", "--timeout", "4s", "-o", "json")
	if code != ExitTimeout {
		t.Fatalf("exit %d, want %d\n%s\n%s", code, ExitTimeout, stdout, stderr)
	}
	if !strings.Contains(stderr, "Insufficient cpu") {
		t.Errorf("the error does not give the scheduler's reason:\n%s", stderr)
	}
	s := decodeSummary(t, stdout)
	var serving *ui.ComponentSummary
	for i := range s.Components {
		if s.Components[i].Name == "serving" {
			serving = &s.Components[i]
		}
	}
	if serving == nil || serving.State != engine.Failed || len(serving.NotReady) != 1 || !strings.Contains(serving.NotReady[0].Event, "FailedScheduling") {
		t.Errorf("serving in the summary: %+v", serving)
	}
	if s.PruneNotRun == "" {
		t.Error("the summary does not say prune did not run")
	}
}
