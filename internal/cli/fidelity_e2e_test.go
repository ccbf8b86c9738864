package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/envctl/envctl/internal/kubeversion"
	"github.com/envctl/envctl/internal/testenv"
	"github.com/envctl/envctl/internal/ui"
)

// fidelityRepo writes an environment shaped like a platform copied from
// elsewhere: a plain manifest directory listed before the component holding
// its CRD and namespace, and a chart that needs Kubernetes 1.30, asks for
// the CRD's API version, goes into a namespace nobody declares, and has
// delete hooks and tests. w is a namespace outside the environment where
// the delete hooks leave their mark.
func fidelityE2ERepo(t *testing.T, w, kubeconfig string) (repo, platformNS, releaseNS, group string) {
	t.Helper()
	platformNS, releaseNS, group = w+"-p", w+"-r", w+".example.com"
	files := map[string]string{
		"config.yaml": "apiVersion: envctl.dev/v1alpha1\nkind: Config\nspec:\n  defaultEnvironment: dev\n  apply: {timeout: 60s}\n",
		"environments/dev.yaml": fmt.Sprintf(`apiVersion: envctl.dev/v1alpha1
kind: Environment
metadata: {name: dev}
spec:
  cluster:
    provider: existing
    name: test
    existing: {kubeconfig: %q, context: envctl-test}
  components:
    - name: app
      manifests: app
    - name: chart
      helm: {chart: charts/fid, namespace: %s}
    - name: platform
      manifests: {path: platform}
`, kubeconfig, releaseNS),
		"platform/crd.yaml": fmt.Sprintf(`apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.%[1]s}
spec:
  group: %[1]s
  scope: Namespaced
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  versions:
    - name: v1
      served: true
      storage: true
      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
`, group),
		"platform/namespace.yaml": fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata: {name: %s}\n", platformNS),
		"app/widget.yaml":         fmt.Sprintf("apiVersion: %s/v1\nkind: Widget\nmetadata: {name: w1, namespace: %s}\nspec: {size: 3}\n", group, platformNS),
		"app/config/settings.yml": fmt.Sprintf(`apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: %s
  labels: {app.kubernetes.io/managed-by: kubectl}
data: {k: v}
`, platformNS),
		"app/config/list.json": fmt.Sprintf(`{"apiVersion": "v1", "kind": "List", "items": [
  {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "one", "namespace": %[1]q}},
  {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "two", "namespace": %[1]q}}]}`, platformNS),
		"charts/fid/Chart.yaml": "apiVersion: v2\nname: fid\nversion: 0.1.0\nkubeVersion: \">=1.30.0-0\"\n",
		"charts/fid/templates/report.yaml": fmt.Sprintf(`apiVersion: v1
kind: ConfigMap
metadata:
  name: report
data:
  kubeVersion: {{ .Capabilities.KubeVersion.Version | quote }}
  hasWidget: {{ .Capabilities.APIVersions.Has "%s/v1/Widget" | quote }}
  upgrade: {{ .Release.IsUpgrade | quote }}
`, group),
		"charts/fid/templates/delete-hooks.yaml": fmt.Sprintf(`apiVersion: v1
kind: ConfigMap
metadata:
  name: pre-delete-ran
  namespace: %[1]s
  annotations: {helm.sh/hook: pre-delete}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: post-delete-ran
  namespace: %[1]s
  annotations: {helm.sh/hook: post-delete}
`, w),
		"charts/fid/templates/tests.yaml": `apiVersion: v1
kind: Pod
metadata:
  name: test-ok
  annotations: {helm.sh/hook: test, helm.sh/hook-weight: "0"}
spec:
  restartPolicy: Never
  containers: [{name: t, image: busybox}]
---
apiVersion: v1
kind: Pod
metadata:
  name: test-fail
  annotations: {helm.sh/hook: test, helm.sh/hook-weight: "1", envctl.dev/simulated-exit-code: "1"}
spec:
  restartPolicy: Never
  containers: [{name: t, image: busybox}]
`,
	}
	return writeRepoFiles(t, files), platformNS, releaseNS, group
}

// TestFidelityEndToEnd brings up, tests and takes down an environment that
// relies on inferred order, a plain manifest directory, chart capabilities,
// a created release namespace, kept labels, delete hooks and chart tests.
func TestFidelityEndToEnd(t *testing.T) {
	te := testenv.Get(t)
	w := te.Namespace(t)
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "config"))
	repo, platformNS, releaseNS, group := fidelityE2ERepo(t, w, te.Kubeconfig(t))
	ctx := context.Background()
	t.Cleanup(func() {
		for _, ns := range []string{platformNS, releaseNS} {
			_ = te.Clientset().CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
		}
	})

	// The order, inferred, with its reasons.
	code, stdout, stderr := runCLI(t, "render", "--repo", repo, "--graph")
	if code != ExitOK {
		t.Fatalf("render --graph: exit %d\n%s", code, stderr)
	}
	for _, want := range []string{
		// chart needs nothing of platform's (it only asks for the API
		// version); app needs its CRD and namespace.
		"1. chart\n2. platform\n3. app\n",
		"after platform: Widget " + platformNS + "/w1 is a Widget." + group + ", defined by CRD widgets." + group,
		"is in namespace " + platformNS,
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("render --graph does not say %q:\n%s", want, stdout)
		}
	}

	code, stdout, stderr = runCLI(t, "up", "--repo", repo, "dev", "-o", "json")
	if code != ExitOK {
		t.Fatalf("up: exit %d\n%s\n%s", code, stdout, stderr)
	}
	cs := te.Clientset()
	ns, err := cs.CoreV1().Namespaces().Get(ctx, releaseNS, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the release namespace was not created: %v", err)
	}
	if ns.Labels["envctl.dev/component"] != "chart" {
		t.Errorf("release namespace labels = %v", ns.Labels)
	}
	report, err := cs.CoreV1().ConfigMaps(releaseNS).Get(ctx, "report", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if report.Data["kubeVersion"] != kubeversion.Embedded() || report.Data["hasWidget"] != "true" || report.Data["upgrade"] != "false" {
		t.Errorf("what the chart saw on up: %v; want the cluster's %s, the Widget's API version, an install", report.Data, kubeversion.Embedded())
	}
	settings, err := cs.CoreV1().ConfigMaps(platformNS).Get(ctx, "settings", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if settings.Labels["app.kubernetes.io/managed-by"] != "kubectl" || settings.Labels["envctl.dev/managed-by"] != "envctl" {
		t.Errorf("labels of a plain manifest = %v, want its own managed-by kept next to envctl's", settings.Labels)
	}
	for _, name := range []string{"one", "two"} {
		if _, err := cs.CoreV1().ConfigMaps(platformNS).Get(ctx, name, metav1.GetOptions{}); err != nil {
			t.Errorf("ConfigMap %s of the List: %v", name, err)
		}
	}
	widgets := schema.GroupVersionResource{Group: group, Version: "v1", Resource: "widgets"}
	if _, err := te.Dynamic().Resource(widgets).Namespace(platformNS).Get(ctx, "w1", metav1.GetOptions{}); err != nil {
		t.Errorf("Widget: %v", err)
	}

	// Again: nothing written, and the chart now renders as an upgrade.
	code, stdout, stderr = runCLI(t, "apply", "--repo", repo, "dev", "-o", "json")
	if code != ExitOK {
		t.Fatalf("second apply: exit %d\n%s", code, stderr)
	}
	var s ui.Summary
	if err := json.Unmarshal([]byte(stdout), &s); err != nil {
		t.Fatal(err)
	}
	// Only the report changes: its upgrade flag flips from false to true.
	var changed []string
	for _, c := range s.Components {
		for _, ch := range c.Changed {
			changed = append(changed, ch.Object+" "+ch.Action)
		}
	}
	if len(changed) != 1 || !strings.Contains(changed[0], "/report configured") {
		t.Errorf("second apply changed %v, want only the report ConfigMap", changed)
	}
	if report, _ = cs.CoreV1().ConfigMaps(releaseNS).Get(ctx, "report", metav1.GetOptions{}); report.Data["upgrade"] != "true" {
		t.Errorf("IsUpgrade on the second apply = %q, want true", report.Data["upgrade"])
	}

	// The chart's tests: one passes, one fails (simulated exit code 1).
	code, stdout, stderr = runCLI(t, "test", "--repo", repo, "dev", "--timeout", "60s", "-o", "json")
	if code != ExitUnhealthy {
		t.Errorf("test: exit %d, want %d\n%s\n%s", code, ExitUnhealthy, stdout, stderr)
	}
	var tr ui.TestReport
	if err := json.Unmarshal([]byte(stdout), &tr); err != nil {
		t.Fatalf("test report: %v\n%s", err, stdout)
	}
	if !tr.Simulated || tr.Passed || len(tr.Tests) != 2 || !tr.Tests[0].Passed || tr.Tests[1].Passed ||
		!strings.HasSuffix(tr.Tests[0].Object, "/test-ok") || !strings.HasSuffix(tr.Tests[1].Object, "/test-fail") {
		t.Errorf("test report: %+v", tr)
	}
	if !strings.Contains(stderr, "pods are simulated on the embedded cluster") {
		t.Errorf("test does not say that pods are simulated:\n%s", stderr)
	}

	// down runs the delete hooks, which leave their ConfigMaps in w.
	code, _, stderr = runCLI(t, "down", "--repo", repo, "dev", "--yes")
	if code != ExitOK {
		t.Fatalf("down: exit %d\n%s", code, stderr)
	}
	for _, name := range []string{"pre-delete-ran", "post-delete-ran"} {
		if _, err := cs.CoreV1().ConfigMaps(w).Get(ctx, name, metav1.GetOptions{}); err != nil {
			t.Errorf("delete hook %s did not run: %v\n%s", name, err, stderr)
		}
	}
	if i, j := strings.Index(stderr, "pre-delete hook"), strings.Index(stderr, "deleted "); i < 0 || j < i {
		t.Errorf("the pre-delete hook did not run before the deletions:\n%s", stderr)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := cs.CoreV1().Namespaces().Get(ctx, releaseNS, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("release namespace still there after down: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
