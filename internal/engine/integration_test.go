package engine

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/envctl/envctl/internal/apply"
	"github.com/envctl/envctl/internal/errs"
)

func TestReconcileFromNothingThenNothingToDo(t *testing.T) {
	f := newFixture(t)
	f.component("platform", nil,
		configMap("settings", "a"),
		`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"creds","namespace":"NS"},"stringData":{"password":"not-a-real-one"}}`,
		`{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"runner","namespace":"NS"}}`,
	)
	f.component("serving", []string{"platform"},
		configMap("serving", "a"),
		`{"apiVersion":"v1","kind":"Service","metadata":{"name":"api","namespace":"NS"},"spec":{"selector":{"app":"api"},"ports":[{"port":80}]}}`,
		deployment("api", 2, "100m"),
	)
	res, err, _ := f.reconcile()
	if err != nil {
		t.Fatalf("first reconcile: %v", err)
	}
	want := map[string]Counts{"platform": {Created: 3}, "serving": {Created: 3}}
	if got := counts(res); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("first reconcile counts = %v, want %v", got, want)
	}
	for _, c := range res.Components {
		if c.State != Healthy {
			t.Errorf("component %s is %s, want healthy", c.Name, c.State)
		}
	}
	// Healthy means the Deployment's pods are ready, not just that it exists.
	dep, err := f.client.Clientset.AppsV1().Deployments(f.ns).Get(context.Background(), "api", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if dep.Status.AvailableReplicas != 2 {
		t.Errorf("Deployment api has %d available replicas after a healthy reconcile, want 2", dep.Status.AvailableReplicas)
	}
	if !res.InventorySaved {
		t.Error("first reconcile did not save the inventory")
	}

	res, err, reqs := f.reconcile()
	if err != nil {
		t.Fatalf("second reconcile: %v", err)
	}
	if reqs.Writes != 0 {
		t.Errorf("second reconcile made %d writes, want 0: %v", reqs.Writes, reqs.WritePaths)
	}
	if reqs.Requests > 12 {
		t.Errorf("second reconcile made %d requests (%v), want a handful", reqs.Requests, reqs.ByMethod)
	}
	want = map[string]Counts{"platform": {Unchanged: 3}, "serving": {Unchanged: 3}}
	if got := counts(res); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("second reconcile counts = %v, want %v", got, want)
	}
}

func TestChangedObjectUpdatesOnlyIt(t *testing.T) {
	f := newFixture(t)
	docs := []string{configMap("a", "1"), configMap("b", "1"), configMap("c", "1")}
	f.component("platform", nil, docs...)
	if _, err, _ := f.reconcile(); err != nil {
		t.Fatal(err)
	}
	f.component("platform", nil, configMap("a", "1"), configMap("b", "2"), configMap("c", "1"))
	res, err, reqs := f.reconcile()
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Components[0].Counts; got != (Counts{Configured: 1, Unchanged: 2}) {
		t.Errorf("counts = %+v, want 1 configured and 2 unchanged", got)
	}
	for _, ch := range res.Components[0].Changes {
		if (ch.Action == apply.Configured) != (ch.Ref.Name == "b") {
			t.Errorf("%s was %s", ch.Ref, ch.Action)
		}
	}
	var applies int
	for _, p := range reqs.WritePaths {
		if strings.Contains(p, "/namespaces/"+f.ns+"/") {
			applies++
			if !strings.HasSuffix(p, "/configmaps/b") {
				t.Errorf("wrote %s", p)
			}
		}
	}
	if applies != 1 {
		t.Errorf("%d writes to the environment's objects, want 1: %v", applies, reqs.WritePaths)
	}
	live, err := f.get(configMaps, f.ns, "b")
	if err != nil {
		t.Fatal(err)
	}
	if v, _, _ := unstructured.NestedString(live.Object, "data", "k"); v != "2" {
		t.Errorf("live b data.k = %q, want 2", v)
	}
}

func TestCRDAndCustomResourceInOneRun(t *testing.T) {
	f := newFixture(t)
	group := f.ns + ".example.com"
	crd := fmt.Sprintf(`{"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition","metadata":{"name":"models.%s"},
		"spec":{"group":%q,"scope":"Namespaced","names":{"plural":"models","singular":"model","kind":"Model"},
		"versions":[{"name":"v1","served":true,"storage":true,"schema":{"openAPIV3Schema":{"type":"object","x-kubernetes-preserve-unknown-fields":true}}}]}}`, group, group)
	t.Cleanup(func() {
		_ = f.client.Dynamic.Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}).
			Delete(context.Background(), "models."+group, metav1.DeleteOptions{})
	})
	// The custom resource comes first: staging, not the order given, must
	// put its CRD before it.
	f.component("models", nil,
		fmt.Sprintf(`{"apiVersion":"%s/v1","kind":"Model","metadata":{"name":"bert","namespace":"NS"},"spec":{"size":"large"}}`, group),
		crd,
	)
	res, err, _ := f.reconcile()
	if err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	if got := res.Components[0].Counts; got != (Counts{Created: 2}) {
		t.Errorf("counts = %+v, want 2 created", got)
	}
	if _, err := f.get(schema.GroupVersionResource{Group: group, Version: "v1", Resource: "models"}, f.ns, "bert"); err != nil {
		t.Errorf("custom resource not there: %v", err)
	}
	res, err, reqs := f.reconcile()
	if err != nil || reqs.Writes != 0 || res.Components[0].Counts != (Counts{Unchanged: 2}) {
		t.Errorf("second run: err=%v writes=%v counts=%+v", err, reqs.WritePaths, res.Components[0].Counts)
	}
}

func TestFailingComponentLeavesSiblingsApplied(t *testing.T) {
	f := newFixture(t)
	f.component("broken", nil, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Not_A_Valid_Name","namespace":"NS"}}`)
	f.component("dependent", []string{"broken"}, configMap("dependent", "x"))
	f.component("sibling", nil, configMap("sibling", "x"))
	res, err, _ := f.reconcile()
	if err == nil {
		t.Fatal("reconcile succeeded with an invalid object")
	}
	if errs.KindOf(err) != errs.KindInput {
		t.Errorf("error kind = %v, want input: %v", errs.KindOf(err), err)
	}
	if !strings.Contains(err.Error(), "ConfigMap "+f.ns+"/Not_A_Valid_Name") {
		t.Errorf("error does not name the object: %v", err)
	}
	states := map[string]string{}
	for _, c := range res.Components {
		states[c.Name] = string(c.State) + ": " + c.Reason
	}
	if !strings.HasPrefix(states["broken"], "failed") || states["dependent"] != "skipped: dependency broken failed" || states["sibling"] != "healthy: " {
		t.Errorf("states = %v", states)
	}
	if _, err := f.get(configMaps, f.ns, "sibling"); err != nil {
		t.Errorf("the independent sibling was not applied: %v", err)
	}
	if _, err := f.get(configMaps, f.ns, "dependent"); !apierrors.IsNotFound(err) {
		t.Errorf("the dependent was applied (err=%v)", err)
	}
	if res.Prune != nil || res.PruneSkipped == "" {
		t.Errorf("prune ran after a failure: %+v / %q", res.Prune, res.PruneSkipped)
	}
}

func TestImmutableChangeFailsThenRecreates(t *testing.T) {
	f := newFixture(t)
	job := func(image string) string {
		return `{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"migrate","namespace":"NS"},
			"spec":{"suspend":true,"template":{"spec":{"restartPolicy":"Never","containers":[{"name":"m","image":"` + image + `"}]}}}}`
	}
	noWait := func(o *runOptions) { o.NoWait = true }
	f.component("db", nil, job("migrate:1"))
	if _, err, _ := f.reconcile(noWait); err != nil {
		t.Fatal(err)
	}
	before, err := f.get(jobs, f.ns, "migrate")
	if err != nil {
		t.Fatal(err)
	}

	f.component("db", nil, job("migrate:2"))
	_, err, _ = f.reconcile(noWait)
	if errs.KindOf(err) != errs.KindConflict {
		t.Fatalf("error kind = %v, want conflict: %v", errs.KindOf(err), err)
	}
	for _, want := range []string{"Job.batch " + f.ns + "/migrate", "spec.template", "immutable", "--force-recreate"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q: %v", want, err)
		}
	}

	res, err, _ := f.reconcile(noWait, func(o *runOptions) { o.ForceRecreate = true })
	if err != nil {
		t.Fatalf("reconcile with ForceRecreate: %v", err)
	}
	if got := res.Components[0].Counts; got != (Counts{Recreated: 1}) {
		t.Errorf("counts = %+v, want 1 recreated", got)
	}
	after, err := f.get(jobs, f.ns, "migrate")
	if err != nil {
		t.Fatal(err)
	}
	if after.GetUID() == before.GetUID() {
		t.Error("the Job was not recreated (same UID)")
	}

	// The object itself can ask for recreation, without the flag.
	f.component("db", nil, strings.Replace(job("migrate:3"), `"namespace":"NS"}`,
		`"namespace":"NS","annotations":{"envctl.dev/force-recreate":"true"}}`, 1))
	res, err, _ = f.reconcile(noWait)
	if err != nil {
		t.Fatalf("reconcile of an object annotated envctl.dev/force-recreate: %v", err)
	}
	if got := res.Components[0].Counts; got != (Counts{Recreated: 1}) {
		t.Errorf("annotated: counts = %+v, want 1 recreated", got)
	}
}

func TestDriftIsReportedOrTakenBack(t *testing.T) {
	f := newFixture(t)
	f.component("platform", nil, configMap("settings", "declared"))
	if _, err, _ := f.reconcile(); err != nil {
		t.Fatal(err)
	}
	// Another manager changes a field envctl owns, as kubectl edit does.
	cm, err := f.client.Clientset.CoreV1().ConfigMaps(f.ns).Get(context.Background(), "settings", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Data["k"] = "drifted"
	if _, err := f.client.Clientset.CoreV1().ConfigMaps(f.ns).Update(context.Background(), cm, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}

	_, err, _ = f.reconcile()
	if errs.KindOf(err) != errs.KindConflict {
		t.Fatalf("without force: error kind = %v, want conflict: %v", errs.KindOf(err), err)
	}
	for _, want := range []string{"ConfigMap " + f.ns + "/settings", ".data.k", `"kubectl-edit"`, "--force-conflicts"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("conflict error does not mention %q: %v", want, err)
		}
	}

	res, err, _ := f.reconcile(func(o *runOptions) { o.ForceConflicts = true })
	if err != nil {
		t.Fatalf("with force: %v", err)
	}
	if got := res.Components[0].Counts; got != (Counts{Configured: 1}) {
		t.Errorf("with force: counts = %+v, want 1 configured", got)
	}
	live, _ := f.get(configMaps, f.ns, "settings")
	if v, _, _ := unstructured.NestedString(live.Object, "data", "k"); v != "declared" {
		t.Errorf("data.k = %q after taking it back, want declared", v)
	}
	_, err, reqs := f.reconcile()
	if err != nil || reqs.Writes != 0 {
		t.Errorf("after taking it back: err=%v writes=%v", err, reqs.WritePaths)
	}
}

func TestHealthReportsUnschedulablePod(t *testing.T) {
	f := newFixture(t)
	requireNodes(t, f)
	f.component("serving", nil, deployment("model-server", 1, "1000"))
	res, err, _ := f.reconcile(func(o *runOptions) { o.Timeout = 8 * time.Second })
	if errs.KindOf(err) != errs.KindTimeout {
		t.Fatalf("error kind = %v, want timeout: %v", errs.KindOf(err), err)
	}
	for _, want := range []string{"Deployment.apps " + f.ns + "/model-server", "InProgress", "FailedScheduling", "Insufficient cpu"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
	t.Logf("timeout error:\n%v", err)
	if nr := res.Components[0].NotReady; len(nr) != 1 || !strings.Contains(nr[0].Event, "Insufficient cpu") {
		t.Errorf("NotReady = %+v", nr)
	}
}
