package cli

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/envctl/envctl/internal/testenv"
	"github.com/envctl/envctl/internal/testhook"
)

// A field of a declared object owned by another field manager: the apply
// fails for it (exit 5, the field and the manager named) and takes it over
// with --force-conflicts.
func TestMatrixConflictingFieldManager(t *testing.T) {
	canary := newCanary(t)
	e := newE2E(t, "conflict")
	iv := newInvariants(t, e, canary)
	iv.watch(e.ns + "-by")
	e.overlay(matrixRender(canary, 0), "")
	e.mustRun(ExitOK, "apply")

	// Another manager takes .data.step of "changing".
	cms := testenv.Get(t).Clientset().CoreV1().ConfigMaps(e.ns)
	patch := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"changing"},"data":{"step":"theirs"}}`
	force := true
	if _, err := cms.Patch(t.Context(), "changing", types.ApplyPatchType, []byte(patch), metav1.PatchOptions{FieldManager: "other-tool", Force: &force}); err != nil {
		t.Fatal(err)
	}
	e.overlay(matrixRender(canary, 1), "")
	stdout, stderr, code := e.run("apply")
	if code != ExitConflict {
		t.Errorf("apply over another manager's field: exit %d, want %d", code, ExitConflict)
	}
	mustContain(t, "the apply", stdout+stderr, "ConfigMap "+e.ns+"/changing", ".data.step", "other-tool", "--force-conflicts")
	if cm, err := cms.Get(t.Context(), "changing", metav1.GetOptions{}); err != nil || cm.Data["step"] != "theirs" {
		t.Errorf("the other manager's value was overwritten without --force-conflicts: %v %v", cm.Data, err)
	}
	if !e.configMapExists("step-1-a") || !e.configMapExists("step-0-a") {
		t.Error("the other objects were not applied, or prune ran after a failure")
	}
	iv.check("a conflict")

	e.mustRun(ExitOK, "apply", "--force-conflicts")
	if cm, err := cms.Get(t.Context(), "changing", metav1.GetOptions{}); err != nil || cm.Data["step"] != "1" {
		t.Errorf("--force-conflicts did not take the field over: %v %v", cm.Data, err)
	}
	iv.check("--force-conflicts")
	iv.converge("after --force-conflicts", "apply")
}

// An object deleted between the read that planned the apply and the apply:
// the run completes and the next one recreates it.
func TestMatrixObjectDeletedBetweenPlanAndApply(t *testing.T) {
	canary := newCanary(t)
	e := newE2E(t, "vanish")
	iv := newInvariants(t, e, canary)
	iv.watch(e.ns + "-by")
	e.overlay(matrixRender(canary, 0), "")
	e.mustRun(ExitOK, "apply")
	e.overlay(matrixRender(canary, 1), "")

	p := e.start(testhook.LiveRead, nil, "apply")
	p.waitPaused(testhook.LiveRead)
	cms := testenv.Get(t).Clientset().CoreV1().ConfigMaps(e.ns)
	for _, name := range []string{"kept", "changing"} { // one unchanged, one to change
		if err := cms.Delete(t.Context(), name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	p.resume(testhook.LiveRead)
	if code := p.wait(timeoutRun); code != ExitOK {
		t.Errorf("the run whose objects vanished under it: exit %d", code)
	}
	iv.check("objects deleted between plan and apply")
	iv.converge("after objects vanished", "apply")
	for _, name := range []string{"kept", "changing"} {
		if !e.configMapExists(name) {
			t.Errorf("%s was not recreated", name)
		}
	}
}

// A namespace stuck terminating: the apply into it fails clearly (the
// namespace named) and converges once it is gone.
func TestMatrixNamespaceStuckTerminating(t *testing.T) {
	canary := newCanary(t)
	e := newE2E(t, "stuckns")
	iv := newInvariants(t, e, canary)
	iv.watch(e.ns + "-by")
	cs := testenv.Get(t).Clientset()
	stuck := e.ns + "-stuck"
	if _, err := cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: stuck}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	holder := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "holder", Finalizers: []string{"e2e.example.com/hold"}}}
	if _, err := cs.CoreV1().ConfigMaps(stuck).Create(t.Context(), holder, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	release := func() {
		_, _ = cs.CoreV1().ConfigMaps(stuck).Patch(t.Context(), "holder", types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
	}
	t.Cleanup(release)
	if err := cs.CoreV1().Namespaces().Delete(t.Context(), stuck, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	render := matrixRender(canary, 0)
	render["stuck.yaml"] = fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n", stuck)
	render["in-stuck.yaml"] = strings.ReplaceAll(cmYAML("in-stuck"), "NS", stuck)
	e.overlay(render, "")
	stdout, stderr, code := e.run("apply")
	if code == ExitOK {
		t.Fatal("an apply into a terminating namespace succeeded")
	}
	mustContain(t, "the apply", stdout+stderr, "ConfigMap "+stuck+"/in-stuck", stuck, "terminat")
	iv.check("a namespace stuck terminating")

	release()
	deadline := time.Now().Add(time.Minute)
	for {
		_, err := cs.CoreV1().Namespaces().Get(t.Context(), stuck, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("namespace %s still there a minute after its finalizer was released", stuck)
		}
		time.Sleep(100 * time.Millisecond)
	}
	iv.converge("after the namespace went", "apply")
	t.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(t.Context(), stuck, metav1.DeleteOptions{}) })
}

// An object whose finalizer never clears during down: down reports it,
// named with its finalizer, after the timeout (exit 4), keeps it recorded,
// and completes once it is released.
func TestMatrixFinalizerDuringDown(t *testing.T) {
	canary := newCanary(t)
	e := newE2E(t, "finalizer")
	iv := newInvariants(t, e, canary)
	iv.watch(e.ns + "-by")
	e.overlay(matrixRender(canary, 0), "")
	e.mustRun(ExitOK, "apply")
	cms := testenv.Get(t).Clientset().CoreV1().ConfigMaps(e.ns)
	if _, err := cms.Patch(t.Context(), "kept", types.MergePatchType, []byte(`{"metadata":{"finalizers":["e2e.example.com/hold"]}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	release := func() {
		_, _ = cms.Patch(t.Context(), "kept", types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
	}
	t.Cleanup(release)

	start := time.Now()
	_, stderr, code := e.run("down", "--yes", "--timeout", "3s")
	if code != ExitTimeout {
		t.Errorf("down held by a finalizer: exit %d, want %d", code, ExitTimeout)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("down took %v with a 3s timeout", took)
	}
	mustContain(t, "down", stderr, "ConfigMap "+e.ns+"/kept", "e2e.example.com/hold", "envctl down "+e.env)
	iv.check("a finalizer during down")

	release()
	e.mustRun(ExitOK, "down", "--yes")
	if got := ourObjects(t, e.env); len(got) != 0 {
		t.Errorf("left after down: %v", got)
	}
	noCanary(t, "the transcript", e.transcript.String(), canary)
}

// An object of about 1.2 MiB (as large as a ConfigMap gets) is applied, found unchanged, diffed
// and changed like any other.
func TestMatrixObjectNearTheSizeLimit(t *testing.T) {
	canary := newCanary(t)
	e := newE2E(t, "bigobj")
	iv := newInvariants(t, e, canary)
	iv.watch(e.ns + "-by")
	big := func(fill string) string {
		var b strings.Builder
		// A ConfigMap's data may hold 1 MiB and its annotations 256 KiB:
		// 10 keys of 100 KiB and an annotation of 200 KiB make an object of
		// about 1.2 MiB, as large as a ConfigMap gets, under the API
		// server's 1.5 MiB request limit.
		fmt.Fprintf(&b, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\n  namespace: NS\n  annotations:\n    e2e.example.com/padding: %s\ndata:\n",
			strings.Repeat(fill, 200<<10))
		for i := range 10 {
			fmt.Fprintf(&b, "  part%02d: %s\n", i, strings.Repeat(fill, 100<<10))
		}
		return b.String()
	}
	render := matrixRender(canary, 0)
	render["big.yaml"] = big("x")
	e.overlay(render, "")
	e.mustRun(ExitOK, "apply")
	e.mustRun(diffExitNoChanges, "diff")
	render["big.yaml"] = big("y")
	e.overlay(render, "")
	stdout, _ := e.mustRun(diffExitChanges, "diff")
	mustContain(t, "diff", stdout, "ConfigMap "+e.ns+"/big")
	e.mustRun(ExitOK, "apply")
	iv.check("an object near the size limit")
	iv.converge("an object near the size limit", "apply")
}
