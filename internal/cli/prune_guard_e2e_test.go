package cli

import (
	"fmt"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/envctl/envctl/internal/testenv"
)

// A component that renders nothing, or that leaves the environment, keeps
// its objects unless its own guard is lifted (--prune-empty, or
// --prune-removed naming it) or --force-prune lifts every guard, and the
// run says why.
func TestPruneHoldsEmptyAndRemovedComponents(t *testing.T) {
	e := newE2E(t, "holds")
	e.setComponents("app", "extra", "gone")
	e.componentOverlay("app", map[string]string{"ns.yaml": nsYAML, "a1.yaml": cmYAML("a1")})
	e.componentOverlay("extra", map[string]string{"x1.yaml": cmYAML("x1"), "x2.yaml": cmYAML("x2")})
	e.componentOverlay("gone", map[string]string{"g1.yaml": cmYAML("g1")})
	e.mustRun(ExitOK, "apply")

	// extra renders nothing (a wrong path, say): its objects stay.
	e.componentOverlay("extra", nil)
	stdout, stderr := e.mustRun(ExitOK, "apply")
	for _, n := range []string{"x1", "x2"} {
		if !e.configMapExists(n) {
			t.Errorf("%s of component extra, which rendered nothing, was pruned", n)
		}
	}
	mustContain(t, "the run", stdout+stderr, "component extra rendered no objects", "--prune-empty", "kept by the empty-render guard")

	// gone leaves the environment: its object stays too.
	e.setComponents("app", "extra")
	stdout, stderr = e.mustRun(ExitOK, "apply")
	if !e.configMapExists("g1") {
		t.Error("g1 of component gone, removed from the environment, was pruned")
	}
	mustContain(t, "the run", stdout+stderr, "component gone is no longer in the environment", "--prune-removed gone", "kept by the removed-component guard")
	// Held objects stay recorded: a later forced run can still prune them.
	inv, err := e.storedInventory()
	if err != nil {
		t.Fatal(err)
	}
	recorded := map[string]bool{}
	for _, en := range inv.Entries {
		recorded[en.Name] = true
	}
	for _, n := range []string{"x1", "x2", "g1"} {
		if !recorded[n] {
			t.Errorf("held object %s is no longer in the inventory", n)
		}
	}

	e.mustRun(ExitOK, "apply", "--force-prune")
	for _, n := range []string{"x1", "x2", "g1"} {
		if e.configMapExists(n) {
			t.Errorf("%s survived --force-prune", n)
		}
	}
	if !e.configMapExists("a1") {
		t.Error("a1 was pruned")
	}
}

// An object that moved from one component to another is never deleted by
// `apply --component` of either.
func TestMovedObjectSurvivesComponentRuns(t *testing.T) {
	e := newE2E(t, "moved")
	e.setComponents("app", "extra")
	e.componentOverlay("app", map[string]string{"ns.yaml": nsYAML, "a1.yaml": cmYAML("a1"), "moving.yaml": cmYAML("moving")})
	e.componentOverlay("extra", map[string]string{"x1.yaml": cmYAML("x1")})
	e.mustRun(ExitOK, "apply")

	// moving now belongs to extra; app alone is applied first.
	e.componentOverlay("app", map[string]string{"ns.yaml": nsYAML, "a1.yaml": cmYAML("a1")})
	e.componentOverlay("extra", map[string]string{"x1.yaml": cmYAML("x1"), "moving.yaml": cmYAML("moving")})
	stdout, stderr := e.mustRun(ExitOK, "apply", "--component", "app")
	if !e.configMapExists("moving") {
		t.Fatal("apply --component app pruned the object that moved to component extra")
	}
	mustContain(t, "the run", stdout+stderr, "moved to component extra")

	e.mustRun(ExitOK, "apply", "--component", "extra")
	if !e.configMapExists("moving") {
		t.Fatal("apply --component extra lost the object it now declares")
	}
	e.mustRun(ExitOK, "apply")
	if !e.configMapExists("moving") {
		t.Fatal("a full apply pruned the moved object")
	}
	inv, err := e.storedInventory()
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range inv.Entries {
		if en.Name == "moving" && en.Component != "extra" {
			t.Errorf("moving is recorded under component %s, want extra", en.Component)
		}
	}
}

// A CRD is not pruned while custom resources of it that envctl does not
// manage exist; down asks for --prune-crds for it.
func TestCRDWithForeignResourcesIsKept(t *testing.T) {
	e := newE2E(t, "crdheld")
	group := e.env + ".e2e.example.com"
	crd := fmt.Sprintf(`apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.%s
spec:
  group: %s
  scope: Cluster
  names: {plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          x-kubernetes-preserve-unknown-fields: true
`, group, group)
	e.overlay(map[string]string{"ns.yaml": nsYAML, "crd.yaml": crd, "a1.yaml": cmYAML("a1"), "a2.yaml": cmYAML("a2")}, "")
	e.mustRun(ExitOK, "apply")

	// Someone else's widget.
	te := testenv.Get(t)
	widgets := te.Dynamic().Resource(schema.GroupVersionResource{Group: group, Version: "v1", Resource: "widgets"})
	w := &unstructured.Unstructured{Object: map[string]any{"apiVersion": group + "/v1", "kind": "Widget", "metadata": map[string]any{"name": "theirs"}}}
	if _, err := widgets.Create(t.Context(), w, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	crds := te.Dynamic().Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"})
	crdExists := func() bool {
		t.Helper()
		got, err := crds.Get(t.Context(), "widgets."+group, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false
		}
		if err != nil {
			t.Fatal(err)
		}
		return got.GetDeletionTimestamp() == nil
	}
	t.Cleanup(func() { _ = crds.Delete(t.Context(), "widgets."+group, metav1.DeleteOptions{}) })

	e.overlay(map[string]string{"ns.yaml": nsYAML, "a1.yaml": cmYAML("a1"), "a2.yaml": cmYAML("a2")}, "")
	stdout, stderr := e.mustRun(ExitOK, "apply")
	if !crdExists() {
		t.Fatal("the CRD was pruned while a custom resource envctl does not manage existed")
	}
	mustContain(t, "the apply", stdout+stderr, "widgets."+group, "theirs", "--prune-crds", "kept by the crd guard")

	_, stderr, code := e.run("down", "--yes")
	if code != ExitInput {
		t.Errorf("down: exit %d, want %d", code, ExitInput)
	}
	if !crdExists() {
		t.Fatal("down deleted the CRD, and their widget with it, without --prune-crds")
	}
	mustContain(t, "down", stderr, "widgets."+group, "--prune-crds")

	e.mustRun(ExitOK, "down", "--yes", "--prune-crds")
	if crdExists() {
		t.Error("down --prune-crds kept the CRD")
	}
}
