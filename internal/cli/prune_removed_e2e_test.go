package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/envctl/envctl/internal/prune"
	"github.com/envctl/envctl/internal/testenv"
	"github.com/envctl/envctl/internal/ui"
)

// trainingCRD is the CRD of the measurement: trainingjobs.ml.envctl.dev.
const trainingCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: trainingjobs.ml.envctl.dev
spec:
  group: ml.envctl.dev
  scope: Namespaced
  names: {plural: trainingjobs, singular: trainingjob, kind: TrainingJob, listKind: TrainingJobList}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          x-kubernetes-preserve-unknown-fields: true
`

// Removing a component is confirmed by naming it, and the confirmation
// lifts that guard alone: `apply --prune-removed training` prunes the
// objects of component training (its ConfigMaps and its own TrainingJob),
// while the CRD guard keeps the CRD trainingjobs.ml.envctl.dev, since a
// TrainingJob someone made by hand exists; that TrainingJob stays, and the
// summary says which guard kept the CRD, why, and what lifts it. Without
// the confirmation the component's objects are kept by the
// removed-component guard, and diff plans the confirmed run alike.
func TestRemovedComponentIsPrunedButTheCRDGuardKeepsOthersResources(t *testing.T) {
	e := newE2E(t, "removed")
	te := testenv.Get(t)
	crds := te.Dynamic().Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"})
	t.Cleanup(func() { _ = crds.Delete(context.Background(), "trainingjobs.ml.envctl.dev", metav1.DeleteOptions{}) })
	jobs := te.Dynamic().Resource(schema.GroupVersionResource{Group: "ml.envctl.dev", Version: "v1", Resource: "trainingjobs"}).Namespace(e.ns)

	platform := map[string]string{"ns.yaml": nsYAML}
	for i := range 6 {
		platform[fmt.Sprintf("p%d.yaml", i)] = cmYAML(fmt.Sprintf("p%d", i))
	}
	e.setComponents("platform", "training")
	e.componentOverlay("platform", platform)
	e.componentOverlay("training", map[string]string{
		"crd.yaml":     trainingCRD,
		"t1.yaml":      cmYAML("trainer-config"),
		"t2.yaml":      cmYAML("trainer-queue"),
		"nightly.yaml": "apiVersion: ml.envctl.dev/v1\nkind: TrainingJob\nmetadata: {name: nightly, namespace: NS}\nspec: {epochs: 3}\n",
	})
	e.mustRun(ExitOK, "apply")

	// A TrainingJob made by hand, which envctl does not manage.
	byHand := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "ml.envctl.dev/v1", "kind": "TrainingJob",
		"metadata": map[string]any{"name": "by-hand", "namespace": e.ns},
		"spec":     map[string]any{"epochs": int64(100)},
	}}
	if _, err := jobs.Create(t.Context(), byHand, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	exists := func(get func() error) bool {
		t.Helper()
		err := get()
		if apierrors.IsNotFound(err) {
			return false
		}
		if err != nil {
			t.Fatal(err)
		}
		return true
	}
	crdExists := func() bool {
		return exists(func() error {
			got, err := crds.Get(t.Context(), "trainingjobs.ml.envctl.dev", metav1.GetOptions{})
			if err == nil && got.GetDeletionTimestamp() != nil {
				return apierrors.NewNotFound(schema.GroupResource{}, "terminating")
			}
			return err
		})
	}
	jobExists := func(name string) bool {
		return exists(func() error {
			got, err := jobs.Get(t.Context(), name, metav1.GetOptions{})
			if err == nil && got.GetDeletionTimestamp() != nil {
				return apierrors.NewNotFound(schema.GroupResource{}, "terminating")
			}
			return err
		})
	}

	// training leaves the environment.
	e.setComponents("platform")
	stdout, stderr := e.mustRun(ExitOK, "apply")
	if !e.configMapExists("trainer-config") || !jobExists("nightly") || !crdExists() {
		t.Fatal("an unconfirmed removal pruned the component's objects")
	}
	mustContain(t, "the unconfirmed removal", stdout+stderr, "kept by the removed-component guard", "--prune-removed training")

	// Naming a component still declared is not a confirmation.
	_, stderr, code := e.run("apply", "--prune-removed", "platform")
	if code != ExitInput {
		t.Errorf("--prune-removed of a declared component: exit %d, want %d", code, ExitInput)
	}
	mustContain(t, "--prune-removed platform", stderr, "still declares component platform")

	// diff plans the confirmed removal as the apply does it.
	stdout, _ = e.mustRun(diffExitChanges, "diff", "--prune-removed", "training")
	mustContain(t, "diff --prune-removed training", stdout,
		"prune ConfigMap "+e.ns+"/trainer-config", "prune TrainingJob.ml.envctl.dev "+e.ns+"/nightly",
		"CustomResourceDefinition.apiextensions.k8s.io trainingjobs.ml.envctl.dev", "by-hand")

	stdout, stderr = e.mustRun(ExitOK, "apply", "--prune-removed", "training", "-o", "json")
	var sum ui.Summary
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil {
		t.Fatalf("summary: %v\n%s", err, stdout)
	}
	for _, name := range []string{"trainer-config", "trainer-queue"} {
		if e.configMapExists(name) {
			t.Errorf("ConfigMap %s of the removed component was not pruned", name)
		}
	}
	for deadline := time.Now().Add(30 * time.Second); jobExists("nightly"); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the component's own TrainingJob is still there 30 s after it was pruned")
		}
	}
	if !crdExists() {
		t.Fatal("the CRD was pruned, and the hand-made TrainingJob with it")
	}
	if !jobExists("by-hand") {
		t.Fatal("the hand-made TrainingJob was deleted")
	}
	for i := range 6 {
		if !e.configMapExists(fmt.Sprintf("p%d", i)) {
			t.Errorf("ConfigMap p%d of the platform was pruned", i)
		}
	}
	kept := sum.PruneHeld
	if len(kept) != 1 || kept[0].Guard != prune.GuardCRD || !strings.HasPrefix(kept[0].Object, "CustomResourceDefinition") ||
		!strings.Contains(kept[0].Reason, "by-hand") || !strings.Contains(kept[0].Reason, "--prune-crds") {
		t.Errorf("the summary's kept objects: %+v; want the CRD, kept by the crd guard, naming the hand-made TrainingJob and --prune-crds", kept)
	}
	if len(sum.Pruned) != 3 {
		t.Errorf("the summary lists %d pruned objects (%v), want the component's 3", len(sum.Pruned), sum.Pruned)
	}

	// The text summary says it too, and the CRD stays recorded, so that
	// lifting its guard later deletes it.
	stdout, _ = e.mustRun(ExitOK, "apply", "--prune-removed", "training")
	mustContain(t, "the text summary", stdout, "kept by the crd guard (lifted by --prune-crds", "trainingjobs.ml.envctl.dev", "by-hand")
	inv, err := e.storedInventory()
	if err != nil {
		t.Fatal(err)
	}
	recorded := false
	for _, en := range inv.Entries {
		recorded = recorded || en.Kind == "CustomResourceDefinition" && en.Name == "trainingjobs.ml.envctl.dev"
	}
	if !recorded {
		t.Error("the kept CRD is no longer in the inventory")
	}
}
