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

	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/render"
)

func TestHookPhasesAndDeletePolicies(t *testing.T) {
	f := newFixture(t)
	hook := func(name string, weight int, phases []render.HookPhase, policies ...string) *render.Hook {
		return &render.Hook{Object: f.object("release", configMap(name, "hook")), Phases: phases, Weight: weight, DeletePolicies: policies}
	}
	c := f.component("release", nil, configMap("main", "x"))
	c.Hooks = []*render.Hook{
		hook("pre-second", 1, []render.HookPhase{render.PreInstall}),
		hook("pre-first", -1, []render.HookPhase{render.PreInstall, render.PreUpgrade}, render.HookSucceeded),
		hook("post", 0, []render.HookPhase{render.PostInstall, render.PostUpgrade}),
	}
	order := func() []string {
		var out []string
		for _, e := range f.events {
			switch e.Type {
			case HookStarted:
				out = append(out, e.Message+" "+strings.TrimPrefix(e.Object, "ConfigMap "+f.ns+"/"))
			case ComponentStarted, ComponentDone:
				out = append(out, string(e.Type))
			case ObjectApplied:
				out = append(out, "apply "+strings.TrimPrefix(e.Object, "ConfigMap "+f.ns+"/"))
			}
		}
		return out
	}
	res, err, _ := f.reconcile()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"component-started", "pre-install pre-first", "pre-install pre-second", "apply main", "post-install post", "component-done"}
	if got := order(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("install order = %v, want %v", got, want)
	}
	if _, err := f.get(configMaps, f.ns, "pre-first"); !apierrors.IsNotFound(err) {
		t.Errorf("hook-succeeded hook still there (err=%v)", err)
	}
	post1, err := f.get(configMaps, f.ns, "post")
	if err != nil {
		t.Fatalf("hook without a delete policy was removed: %v", err)
	}
	if _, err := f.get(configMaps, f.ns, "pre-second"); err != nil {
		t.Errorf("pre-second missing: %v", err)
	}
	if n := len(res.Components[0].Hooks); n != 3 {
		t.Errorf("%d hook results, want 3", n)
	}

	// Second run: an upgrade, since the release changed. Only the upgrade
	// phases run, and the hook without a policy is deleted and created
	// again (before-hook-creation).
	c.Objects = []*unstructured.Unstructured{f.object("release", configMap("main", "y"))}
	res, err, _ = f.reconcile()
	if err != nil {
		t.Fatal(err)
	}
	want = []string{"component-started", "pre-upgrade pre-first", "apply main", "post-upgrade post", "component-done"}
	if got := order(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("upgrade order = %v, want %v", got, want)
	}
	if n := len(res.Components[0].Hooks); n != 2 {
		t.Errorf("%d hook results on upgrade, want 2", n)
	}
	post2, err := f.get(configMaps, f.ns, "post")
	if err != nil {
		t.Fatal(err)
	}
	if post2.GetUID() == post1.GetUID() {
		t.Error("before-hook-creation did not replace the post hook")
	}
	inv, err := inventory.NewStore(f.client.Clientset).Load(context.Background(), f.name)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range inv.Entries {
		if e.Name != "main" {
			t.Errorf("inventory holds hook %s", e.Ref)
		}
	}

	// Third run: nothing changed, so no hook runs and nothing is written.
	res, err, reqs := f.reconcile()
	if err != nil {
		t.Fatal(err)
	}
	want = []string{"component-started", "apply main", "component-done"}
	if got := order(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("unchanged run order = %v, want %v", got, want)
	}
	if reqs.Writes != 0 || len(res.Components[0].Hooks) != 0 {
		t.Errorf("unchanged run: %d writes (%v), %d hooks", reqs.Writes, reqs.WritePaths, len(res.Components[0].Hooks))
	}
}

func TestFailingHookFailsComponent(t *testing.T) {
	f := newFixture(t)
	c := f.component("release", nil, configMap("main", "x"))
	c.Hooks = []*render.Hook{{
		Object: f.object("release", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Bad_Hook","namespace":"NS"}}`),
		Phases: []render.HookPhase{render.PreInstall},
	}}
	res, err, _ := f.reconcile()
	if err == nil || !strings.Contains(err.Error(), "pre-install hook ConfigMap "+f.ns+"/Bad_Hook") {
		t.Fatalf("err = %v, want the failed pre-install hook named", err)
	}
	if res.Components[0].State != Failed {
		t.Errorf("state = %s", res.Components[0].State)
	}
	if _, err := f.get(configMaps, f.ns, "main"); !apierrors.IsNotFound(err) {
		t.Errorf("the component's objects were applied after its pre hook failed (err=%v)", err)
	}
}

func TestJobHookRunsToCompletion(t *testing.T) {
	f := newFixture(t)
	requireNodes(t, f)
	job := `{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"migrate","namespace":"NS"},
		"spec":{"backoffLimit":0,"template":{"spec":{"restartPolicy":"Never","containers":[{"name":"m","image":"example.com/migrate:1"}]}}}}`
	c := f.component("release", nil, configMap("main", "x"))
	hook := &render.Hook{Object: f.object("release", job), Phases: []render.HookPhase{render.PreInstall, render.PreUpgrade}}
	c.Hooks = []*render.Hook{hook}

	// Install, default policy (before-hook-creation): the Job stays, and
	// when its phase ends it has completed; kstatus alone would have called
	// it ready as soon as it started.
	var succeededAtDone int32 = -1
	var mainAppliedBeforeHookDone bool
	_, err, _ := f.reconcile(func(o *runOptions) {
		next := o.OnEvent
		o.OnEvent = func(e Event) {
			next(e)
			switch e.Type {
			case ObjectApplied:
				if succeededAtDone < 0 {
					mainAppliedBeforeHookDone = true
				}
			case HookDone:
				j, err := f.client.Clientset.BatchV1().Jobs(f.ns).Get(context.Background(), "migrate", metav1.GetOptions{})
				if err != nil {
					t.Errorf("Job hook gone at the end of its phase: %v", err)
					return
				}
				succeededAtDone = j.Status.Succeeded
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if succeededAtDone != 1 {
		t.Errorf("the Job had %d succeeded pods when its hook phase ended, want 1", succeededAtDone)
	}
	if mainAppliedBeforeHookDone {
		t.Error("the component's objects were applied before its pre-install hook finished")
	}

	// Upgrade with hook-succeeded: the old Job is replaced, runs, and is
	// deleted once it succeeded.
	hook.DeletePolicies = []string{render.HookBeforeCreation, render.HookSucceeded}
	c.Objects = []*unstructured.Unstructured{f.object("release", configMap("main", "y"))}
	res, err, _ := f.reconcile()
	if err != nil {
		t.Fatal(err)
	}
	if h := res.Components[0].Hooks; len(h) != 1 || !h[0].Deleted || h[0].Phase != "pre-upgrade" {
		t.Errorf("hooks = %+v, want the pre-upgrade Job deleted by hook-succeeded", h)
	}
	if _, err := f.get(jobs, f.ns, "migrate"); !apierrors.IsNotFound(err) {
		t.Errorf("Job still there after hook-succeeded (err=%v)", err)
	}
}

// TestHookSucceededWaitsForThePhase: a hook-succeeded ServiceAccount that a
// later Job of the phase runs as stays until the phase is over, as in Helm;
// then both go.
func TestHookSucceededWaitsForThePhase(t *testing.T) {
	f := newFixture(t)
	requireNodes(t, f)
	job := `{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"init","namespace":"NS"},
		"spec":{"template":{"spec":{"restartPolicy":"Never","serviceAccountName":"init-runner","containers":[{"name":"m","image":"example.com/init:1"}]}}}}`
	sa := `{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"init-runner","namespace":"NS"}}`
	c := f.component("release", nil, configMap("main", "x"))
	pre := []render.HookPhase{render.PreInstall}
	c.Hooks = []*render.Hook{
		{Object: f.object("release", job), Phases: pre, Weight: 0, DeletePolicies: []string{render.HookSucceeded}},
		{Object: f.object("release", sa), Phases: pre, Weight: -1, DeletePolicies: []string{render.HookSucceeded}},
	}
	res, err, _ := f.reconcile(func(o *runOptions) { o.Timeout = 30 * time.Second })
	if err != nil {
		t.Fatal(err)
	}
	var deleted []string
	for _, h := range res.Components[0].Hooks {
		if h.Deleted {
			deleted = append(deleted, h.Object)
		}
	}
	want := []string{"ServiceAccount " + f.ns + "/init-runner", "Job.batch " + f.ns + "/init"}
	if fmt.Sprint(deleted) != fmt.Sprint(want) {
		t.Errorf("deleted hooks = %v, want %v", deleted, want)
	}
	if _, err := f.client.Clientset.CoreV1().ServiceAccounts(f.ns).Get(context.Background(), "init-runner", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the ServiceAccount hook is still there after its phase (err=%v)", err)
	}
}
