package cli

import (
	"encoding/json"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"

	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/testenv"
	"github.com/envctl/envctl/internal/ui"
)

func TestStatus(t *testing.T) {
	e := newE2E(t, "status")
	e.overlay(baseResources(), "")

	// Never applied.
	_, stderr := e.mustRun(ExitInput, "status")
	if !strings.Contains(stderr, "environment status was never applied") {
		t.Errorf("never-applied status says:\n%s", stderr)
	}

	e.mustRun(ExitOK, "apply")
	stdout, _ := e.mustRun(ExitOK, "status", "-o", "json")
	var r ui.StatusReport
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("status -o json: %v\n%s", err, stdout)
	}
	if r.Environment != "status" || !r.Healthy || r.AppliedAt.IsZero() || r.Revision == "" {
		t.Errorf("report header: %+v", r)
	}
	if len(r.Components) != 1 || r.Components[0].Name != "app" || r.Components[0].Status != kstatus.CurrentStatus {
		t.Fatalf("components: %+v", r.Components)
	}
	kinds := map[string]kstatus.Status{}
	for _, o := range r.Components[0].Objects {
		kinds[o.Ref.Kind] = o.Status
	}
	for _, k := range []string{"Namespace", "ConfigMap", "Deployment", "Service"} {
		if kinds[k] != kstatus.CurrentStatus {
			t.Errorf("%s: %s, want Current", k, kinds[k])
		}
	}

	table, _ := e.mustRun(ExitOK, "status")
	for _, want := range []string{"Environment status", "COMPONENT", "Deployment.apps " + e.ns + "/server", "Current"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}

	// Someone deletes an object behind envctl's back: not healthy, exit 3.
	err := testenv.Get(t).Clientset().CoreV1().ConfigMaps(e.ns).Delete(t.Context(), "model-config", metav1.DeleteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := e.run("status", "-o", "json")
	if code != ExitUnhealthy {
		t.Errorf("status with a deleted object: exit %d, want %d", code, ExitUnhealthy)
	}
	r = ui.StatusReport{}
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatal(err)
	}
	if r.Healthy || r.Components[0].Status != kstatus.NotFoundStatus {
		t.Errorf("report after deletion: healthy %v, component %s", r.Healthy, r.Components[0].Status)
	}
	if !strings.Contains(stderr, "1 of 4 objects are not healthy") {
		t.Errorf("stderr: %s", stderr)
	}

	e.mustRun(ExitOK, "down", "--yes")
	if _, stderr := e.mustRun(ExitInput, "status"); !strings.Contains(stderr, "never applied") {
		t.Errorf("status after down: %s", stderr)
	}
}

func TestStatusUnhealthyExit3(t *testing.T) {
	e := newE2E(t, "unhealthy")
	res := baseResources()
	// More CPU than any simulated node has: the pod stays Pending.
	res["deployment.yaml"] = strings.Replace(deploymentYAML, "cpu: 10m", "cpu: \"500\"", 1)
	e.overlay(res, "")
	e.mustRun(ExitOK, "apply", "--no-wait")
	stdout, _, code := e.run("status")
	if code != ExitUnhealthy {
		t.Errorf("exit %d, want %d", code, ExitUnhealthy)
	}
	if !strings.Contains(stdout, "InProgress") {
		t.Errorf("table does not show the Deployment in progress:\n%s", stdout)
	}
	e.mustRun(ExitOK, "down", "--yes")
}

func TestDownLeavesNothingBehind(t *testing.T) {
	e := newE2E(t, "down")
	e.overlay(baseResources(), `secretGenerator:
  - name: db
    namespace: NS
    literals:
      - password=not-a-canary
generatorOptions:
  disableNameSuffixHash: true
`)
	e.mustRun(ExitOK, "apply")
	if got := ourObjects(t, e.env); len(got) < 5 {
		t.Fatalf("after apply, objects with the environment label: %v", got)
	}

	stdout, stderr := e.mustRun(ExitOK, "down", "--yes", "-o", "json")
	var r ui.DownReport
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("down -o json: %v\n%s", err, stdout)
	}
	if !r.InventoryDeleted || r.ClusterDeleted || len(r.Objects) != 5 {
		t.Errorf("report: %+v", r)
	}
	// Reverse order: the Deployment before the ConfigMap, the Namespace last.
	if n := len(r.Objects); n > 0 && r.Objects[n-1].Ref.Kind != "Namespace" {
		t.Errorf("last deleted: %s, want the Namespace", r.Objects[n-1].Ref)
	}
	if !strings.Contains(stderr, "Deleting 5 objects of environment down") {
		t.Errorf("stderr: %s", stderr)
	}
	if got := ourObjects(t, e.env); len(got) != 0 {
		t.Errorf("objects left behind: %v", got)
	}
	cms, err := testenv.Get(t).Clientset().CoreV1().ConfigMaps(inventory.Namespace).List(t.Context(), metav1.ListOptions{LabelSelector: inventory.LabelInventory + "=" + e.env})
	if err != nil {
		t.Fatal(err)
	}
	if len(cms.Items) != 0 {
		t.Errorf("inventory ConfigMaps left: %d", len(cms.Items))
	}

	// Down again, through the environment's own (existing) cluster rather
	// than --kubeconfig: nothing to do, still success, and a cluster envctl
	// did not create is kept.
	var out, errOut strings.Builder
	code := Main([]string{"--repo", e.repo, "down", "--yes"}, IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	if code != ExitOK {
		t.Fatalf("second down: exit %d\n%s", code, errOut.String())
	}
	for _, want := range []string{"no inventory", "Cluster envctl-down was not created by envctl; it is kept."} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("second down does not say %q:\n%s", want, errOut.String())
		}
	}
}
