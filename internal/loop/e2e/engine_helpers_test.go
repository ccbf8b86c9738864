package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/envctl/envctl/internal/testenv"
	"github.com/envctl/envctl/internal/testhook"
)

// with returns r whose processes also get the environment variables vars
// (NAME=value; a later one wins).
func (r *repo) with(vars ...string) *repo {
	c := *r
	c.vars = append(slices.Clone(r.vars), vars...)
	return &c
}

// rendered is one component of one render that an envctl process recorded
// (testhook.RecordEnv): the digest of its objects, hooks and tests, how
// many objects, and whether its release rendered as an upgrade.
type rendered struct {
	Component string
	Digest    string
	Objects   int
	Upgrade   bool
}

func (c rendered) String() string {
	return fmt.Sprintf("%s %.12s %d upgrade=%v", c.Component, c.Digest, c.Objects, c.Upgrade)
}

// recorder returns r whose processes record their renders, and the file
// they record to (outside the repository, whose changes sync would see).
func (r *repo) recorder() (*repo, string) {
	path := filepath.Join(r.t.TempDir(), "renders")
	return r.with(testhook.RecordEnv + "=" + path), path
}

// renders reads the renders recorded in path, in order; none when the
// file does not exist.
func renders(t testing.TB, path string) []rendered {
	t.Helper()
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []rendered
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Fields(line)
		if len(f) != 5 || f[0] != "render" {
			continue
		}
		n, err := strconv.Atoi(f[3])
		if err != nil {
			t.Fatalf("record %s: %q: %v", path, line, err)
		}
		out = append(out, rendered{Component: f[1], Digest: f[2], Objects: n, Upgrade: f[4] == "upgrade=true"})
	}
	return out
}

// reconciled waits until p's loop has applied the environment since since,
// with no error left.
func (r *repo) reconciled(p *proc, since time.Time) {
	r.t.Helper()
	eventually(r.t, 2*time.Minute, "envctl "+strings.Join(p.args, " ")+" to reconcile", func() error {
		if p.exited() {
			r.t.Fatalf("envctl %s exited with %d:\n%s", strings.Join(p.args, " "), p.code, p.err)
		}
		st := r.status()
		if st == nil || !st.Running || !strings.Contains(st.Holder, fmt.Sprintf("(pid %d ", p.pid())) ||
			!st.LastAppliedAt.After(since) || st.LastError != "" {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
}

// writes runs `envctl ARGS -o json` (apply or up), which must succeed, and
// returns the write requests its summary counts.
func (r *repo) writes(args ...string) int {
	r.t.Helper()
	code, stdout, stderr := r.run(append(args, "-o", "json")...)
	var sum struct {
		Succeeded bool `json:"succeeded"`
		Requests  struct {
			Writes int `json:"writes"`
		} `json:"requests"`
	}
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil || code != 0 || !sum.Succeeded {
		r.t.Fatalf("envctl %s: exit %d, %v\n%s%s", strings.Join(args, " "), code, err, stdout, stderr)
	}
	return sum.Requests.Writes
}

// The test chart (testdata/gated): a Widget only where the cluster serves
// the Widget API of .Values.widgetGroup, a ConfigMap gated-release saying
// whether the release rendered as an upgrade, and a test Pod.
const (
	chartRelease = "gated"
	chartDir     = "charts/gated"
	// chartObjects is what the chart renders where the cluster does not
	// serve the Widget API: the ConfigMap. withWidget adds the Widget.
	chartObjects = 1
	withWidget   = chartObjects + 1
)

// widgetGroup is the API group of r's Widget CRD: one per test, since CRDs
// are cluster-wide.
func (r *repo) widgetGroup() string { return r.env + ".loop-e2e.envctl.dev" }

// chart copies the test chart into r and makes it the environment's one
// component, released into r's namespace (the test's, which the release
// does not own) with r's Widget group.
func (r *repo) chart() {
	r.t.Helper()
	if err := os.CopyFS(filepath.Join(r.dir, chartDir), os.DirFS(filepath.Join("testdata", "gated"))); err != nil {
		r.t.Fatal(err)
	}
	r.write("environments/"+r.env+".yaml", `apiVersion: envctl.dev/v1alpha1
kind: Environment
metadata: {name: `+r.env+`}
spec:
  cluster:
    provider: existing
    existing: {kubeconfig: `+r.kubeconfig+`}
  components:
    - name: chart
      helm:
        chart: `+chartDir+`
        release: `+chartRelease+`
        namespace: `+r.ns+`
        createNamespace: false
        values: {widgetGroup: `+r.widgetGroup()+`}
`)
}

// isUpgrade is what the release's ConfigMap says of .Release.IsUpgrade.
func (r *repo) isUpgrade() (string, error) {
	cm, err := r.te.Clientset().CoreV1().ConfigMaps(r.ns).Get(context.Background(), chartRelease+"-release", metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	return cm.Data["isUpgrade"], nil
}

// widget reads the chart's Widget; a NotFound error when there is none.
func (r *repo) widget() (*unstructured.Unstructured, error) {
	gvr := schema.GroupVersionResource{Group: r.widgetGroup(), Version: "v1", Resource: "widgets"}
	return r.te.Dynamic().Resource(gvr).Namespace(r.ns).Get(context.Background(), chartRelease, metav1.GetOptions{})
}

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// applyWidgetCRD creates r's Widget CRD directly with the client, as an
// operator's installer would, and returns once the API server serves the
// Widget API (established and discoverable). It is deleted when the test
// ends.
func (r *repo) applyWidgetCRD() {
	r.t.Helper()
	createWidgetCRD(r.t, r.te, r.widgetGroup())
	gv := r.widgetGroup() + "/v1"
	eventually(r.t, time.Minute, "the Widget API to be served", func() error {
		crd, err := r.te.Dynamic().Resource(crdGVR).Get(context.Background(), "widgets."+r.widgetGroup(), metav1.GetOptions{})
		if err != nil {
			return err
		}
		conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
		established := false
		for _, c := range conds {
			m, _ := c.(map[string]any)
			established = established || m["type"] == "Established" && m["status"] == "True"
		}
		if !established {
			return fmt.Errorf("not established: %v", conds)
		}
		_, err = r.te.Clientset().Discovery().ServerResourcesForGroupVersion(gv)
		return err
	})
}

// createWidgetCRD creates the Widget CRD of group and deletes it when t
// ends.
func createWidgetCRD(t testing.TB, te *testenv.Env, group string) {
	t.Helper()
	crd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1",
		"kind":       "CustomResourceDefinition",
		"metadata":   map[string]any{"name": "widgets." + group},
		"spec": map[string]any{
			"group": group,
			"scope": "Namespaced",
			"names": map[string]any{"kind": "Widget", "plural": "widgets", "singular": "widget", "listKind": "WidgetList"},
			"versions": []any{map[string]any{
				"name": "v1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
			}},
		},
	}}
	if _, err := te.Dynamic().Resource(crdGVR).Create(context.Background(), crd, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		err := te.Dynamic().Resource(crdGVR).Delete(context.Background(), "widgets."+group, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete CRD widgets.%s: %v", group, err)
		}
	})
}
