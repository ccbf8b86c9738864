package cli

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/envctl/envctl/internal/testenv"
)

// TestApplyPrunes goes through prune as a user meets it: a removed object is
// pruned, an object whose labels someone else changed is left alone, and an
// empty render or a render failure prunes nothing.
func TestApplyPrunes(t *testing.T) {
	e := newE2E(t, "prune")
	cms := testenv.Get(t).Clientset().CoreV1().ConfigMaps(e.ns)
	extra := func(name string) string {
		return strings.Replace(configMapYAML, "model-config", name, 1)
	}
	res := baseResources()
	res["adopted.yaml"] = extra("adopted")
	res["removed.yaml"] = extra("removed")
	e.overlay(res, "")
	e.mustRun(ExitOK, "apply")

	exists := func(name string) bool {
		t.Helper()
		_, err := cms.Get(t.Context(), name, metav1.GetOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
		return err == nil
	}

	// Someone takes "adopted" over: it loses envctl's labels.
	patch := `{"metadata":{"labels":{"envctl.dev/managed-by":"someone-else","envctl.dev/environment":null}}}`
	if _, err := cms.Patch(t.Context(), "adopted", types.MergePatchType, []byte(patch), metav1.PatchOptions{FieldManager: "someone-else"}); err != nil {
		t.Fatal(err)
	}
	// A ConfigMap envctl never applied sits in the same namespace.
	if _, err := cms.Create(t.Context(), mustConfigMap(e.ns, "bystander"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	delete(res, "adopted.yaml")
	delete(res, "removed.yaml")
	e.overlay(res, "")
	stdout, stderr := e.mustRun(ExitOK, "apply")
	if exists("removed") {
		t.Error("the removed object was not pruned")
	}
	if !exists("adopted") {
		t.Error("an object without envctl's labels was pruned")
	}
	if !exists("bystander") {
		t.Error("an object envctl never applied was deleted")
	}
	if out := stdout + stderr; !strings.Contains(out, "adopted") {
		t.Errorf("the skipped object is not reported:\n%s", out)
	}

	// An empty render: refused, nothing deleted.
	e.overlay(map[string]string{}, "")
	_, stderr, code := e.run("apply")
	if code == ExitOK || !strings.Contains(stderr, "--force-prune") {
		t.Errorf("empty render: exit %d, stderr:\n%s", code, stderr)
	}
	if !exists("model-config") {
		t.Fatal("an empty render pruned model-config")
	}

	// A render failure: nothing applied, nothing deleted.
	e.overlay(res, "")
	e.write("overlays/app/configmap.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [broken\n")
	if _, _, code := e.run("apply"); code != ExitInput {
		t.Errorf("render failure: exit %d, want %d", code, ExitInput)
	}
	if !exists("model-config") {
		t.Fatal("a render failure pruned model-config")
	}

	// Forced, an empty render prunes everything but the Namespace, which
	// prune never deletes without prune.allowNamespaces.
	e.overlay(map[string]string{}, "")
	stdout, stderr = e.mustRun(ExitOK, "apply", "--force-prune")
	if exists("model-config") {
		t.Error("a forced prune of an empty render left model-config")
	}
	ns, err := testenv.Get(t).Clientset().CoreV1().Namespaces().Get(t.Context(), e.ns, metav1.GetOptions{})
	if err != nil || ns.DeletionTimestamp != nil {
		t.Errorf("namespace %s was pruned without prune.allowNamespaces: %v", e.ns, err)
	}
	if out := stdout + stderr; !strings.Contains(out, "prune.allowNamespaces") {
		t.Errorf("the kept Namespace is not explained:\n%s", out)
	}
}

func mustConfigMap(ns, name string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Data:       map[string]string{"owner": "not envctl"},
	}
}
