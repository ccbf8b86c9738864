package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/envctl/envctl/internal/plan"
	"github.com/envctl/envctl/internal/ui"
)

// Manifests of the end-to-end environments; NS is the test's namespace.
const (
	nsYAML = `apiVersion: v1
kind: Namespace
metadata:
  name: NS
`
	configMapYAML = `apiVersion: v1
kind: ConfigMap
metadata:
  name: model-config
  namespace: NS
data:
  batch: "8"
`
	deploymentYAML = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: server
  namespace: NS
spec:
  replicas: 1
  selector:
    matchLabels: {app: server}
  template:
    metadata:
      labels: {app: server}
    spec:
      containers:
        - name: server
          image: registry.example/server:1
          resources:
            requests: {cpu: 10m, memory: 16Mi}
`
	serviceYAML = `apiVersion: v1
kind: Service
metadata:
  name: server
  namespace: NS
spec:
  selector: {app: server}
  ports:
    - port: 80
`
)

// baseResources is the environment most tests start from.
func baseResources() map[string]string {
	return map[string]string{
		"namespace.yaml":  nsYAML,
		"configmap.yaml":  configMapYAML,
		"deployment.yaml": deploymentYAML,
		"service.yaml":    serviceYAML,
	}
}

func TestDiffExitCodes(t *testing.T) {
	e := newE2E(t, "diffexit")
	e.overlay(baseResources(), "")

	// Never applied: everything is to be created.
	stdout, _ := e.mustRun(diffExitChanges, "diff", "-o", "json")
	var items []ui.DiffItem
	if err := json.Unmarshal([]byte(stdout), &items); err != nil {
		t.Fatalf("diff -o json is not a JSON list: %v\n%s", err, stdout)
	}
	if len(items) != 4 {
		t.Errorf("got %d items, want 4", len(items))
	}
	for _, it := range items {
		if it.Action != plan.Create || it.Diff == "" {
			t.Errorf("%s: action %s, diff %q; want a create with a diff", it.Ref, it.Action, it.Diff)
		}
		// The repository is outside Git: its revision is its content's hash.
		if !strings.HasPrefix(it.Revision, "sha256:") {
			t.Errorf("%s: revision %q, want the source's sha256: revision", it.Ref, it.Revision)
		}
	}

	e.mustRun(ExitOK, "apply")

	// Applied as declared: no changes, nothing on stdout.
	stdout, stderr := e.mustRun(diffExitNoChanges, "diff")
	if stdout != "" {
		t.Errorf("diff without changes printed:\n%s", stdout)
	}
	if !strings.Contains(stderr, "0 to create, 0 to change, 0 to prune, 4 unchanged") {
		t.Errorf("summary: %s", stderr)
	}

	// One value changed, one object removed.
	res := baseResources()
	res["configmap.yaml"] = strings.Replace(configMapYAML, `"8"`, `"16"`, 1)
	delete(res, "service.yaml")
	e.overlay(res, "")
	stdout, _ = e.mustRun(diffExitChanges, "diff")
	for _, want := range []string{
		"~ change ConfigMap " + e.ns + "/model-config (component app)",
		"-  batch: \"8\"\n+  batch: \"16\"\n",
		"- prune Service " + e.ns + "/server (component app)",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("diff does not show %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, "\x1b[") {
		t.Error("diff to a non-terminal is coloured")
	}
	stdout, _ = e.mustRun(diffExitChanges, "diff", "-o", "json")
	items = nil
	if err := json.Unmarshal([]byte(stdout), &items); err != nil {
		t.Fatal(err)
	}
	actions := map[string]plan.Action{}
	for _, it := range items {
		actions[it.Ref.String()] = it.Action
	}
	if actions["ConfigMap "+e.ns+"/model-config"] != plan.Change || actions["Service "+e.ns+"/server"] != plan.Prune ||
		actions["Deployment.apps "+e.ns+"/server"] != plan.Unchanged {
		t.Errorf("JSON actions: %v", actions)
	}

	// An object the server rejects: exit 2, and the plan still printed.
	res["service.yaml"] = strings.Replace(serviceYAML, "  ports:", "  type: NoSuchType\n  ports:", 1)
	e.overlay(res, "")
	stdout, stderr, code := e.run("diff")
	if code != diffExitError {
		t.Errorf("invalid object: exit %d, want %d", code, diffExitError)
	}
	if !strings.Contains(stdout, "✗ error Service "+e.ns+"/server") || !strings.Contains(stderr, "Error:") {
		t.Errorf("invalid object not reported:\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
	}

	// A manifest that does not parse, and a cluster that cannot be reached.
	e.write("overlays/app/service.yaml", "kind: [unclosed")
	if _, _, code := e.run("diff"); code != diffExitError {
		t.Errorf("broken manifest: exit %d, want %d", code, diffExitError)
	}
	e.overlay(baseResources(), "")
	var out, errOut strings.Builder
	code = Main([]string{"--repo", e.repo, "diff", "--kubeconfig", e.repo + "/no-such-kubeconfig"}, IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	if code != diffExitError || !strings.Contains(errOut.String(), "no-such-kubeconfig") {
		t.Errorf("missing kubeconfig: exit %d, stderr %q", code, errOut.String())
	}

	e.mustRun(ExitOK, "down", "--yes")
}
