package engine

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/envctl/envctl/internal/apply"
	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/kube"
	"github.com/envctl/envctl/internal/render"
)

// fixture is one environment on the test cluster: its own name and
// namespace, a render that the test edits between reconciles, and a client
// whose requests are counted.
type fixture struct {
	t       *testing.T
	name    string
	ns      string
	client  *kube.Client
	counter *kube.Counter
	env     *config.Environment
	comps   []*render.Component
	events  []Event
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ns := testNamespace(t)
	cfg, counter := kube.CountingConfig(testConfig(t))
	client, err := kube.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, name: "env-" + ns, ns: ns, client: client, counter: counter}
}

// component sets the objects of a component, labelled as render labels
// them. Each document is YAML with NS standing for the test namespace.
func (f *fixture) component(name string, dependsOn []string, docs ...string) *render.Component {
	f.t.Helper()
	c := &render.Component{Name: name, DependsOn: dependsOn}
	for _, d := range docs {
		c.Objects = append(c.Objects, f.object(name, d))
	}
	for i, old := range f.comps {
		if old.Name == name {
			f.comps[i] = c
			return c
		}
	}
	f.comps = append(f.comps, c)
	return c
}

func (f *fixture) object(component, doc string) *unstructured.Unstructured {
	f.t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(strings.ReplaceAll(doc, "NS", f.ns)), &u.Object); err != nil {
		f.t.Fatalf("test manifest: %v", err)
	}
	l := u.GetLabels()
	if l == nil {
		l = map[string]string{}
	}
	l[render.LabelManagedBy] = render.ManagedByValue
	l[render.LabelEnvironment] = f.name
	l[render.LabelComponent] = component
	u.SetLabels(l)
	return u
}

// reconcile runs the engine on the current render and returns the result,
// the error and the requests it made.
func (f *fixture) reconcile(edit ...func(*Options)) (*Result, error, kube.Snapshot) {
	f.t.Helper()
	env := &config.Environment{Metadata: config.Metadata{Name: f.name}}
	for _, c := range f.comps {
		env.Spec.Components = append(env.Spec.Components, config.Component{Name: c.Name, DependsOn: c.DependsOn})
	}
	comps := append([]*render.Component(nil), f.comps...)
	opts := Options{
		Environment: env,
		Settings:    config.DefaultSettings(),
		Revision:    "test",
		Render: func(context.Context) (*render.Result, error) {
			return &render.Result{Environment: f.name, Components: comps}, nil
		},
		Client:  f.client,
		Timeout: 60 * time.Second,
		OnEvent: func(e Event) { f.events = append(f.events, e) },
	}
	for _, e := range edit {
		e(&opts)
	}
	f.events = nil
	before := f.counter.Snapshot()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := Reconcile(ctx, opts)
	return res, err, f.counter.Snapshot().Sub(before)
}

func (f *fixture) get(gvr schema.GroupVersionResource, ns, name string) (*unstructured.Unstructured, error) {
	return f.client.Dynamic.Resource(gvr).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
}

var (
	configMaps = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	jobs       = schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "jobs"}
)

func counts(res *Result) map[string]Counts {
	out := map[string]Counts{}
	for _, c := range res.Components {
		out[c.Name] = c.Counts
	}
	return out
}

func deployment(name string, replicas int, cpu string) string {
	return fmt.Sprintf(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":%q,"namespace":"NS"},
		"spec":{"replicas":%d,"selector":{"matchLabels":{"app":%q}},"template":{"metadata":{"labels":{"app":%q}},
		"spec":{"containers":[{"name":"main","image":"example.com/%s:1","resources":{"requests":{"cpu":%q}}}]}}}}`, name, replicas, name, name, name, cpu)
}

func configMap(name, value string) string {
	return fmt.Sprintf(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":%q,"namespace":"NS"},"data":{"k":%q}}`, name, value)
}

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
	noWait := func(o *Options) { o.NoWait = true }
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

	res, err, _ := f.reconcile(noWait, func(o *Options) { o.ForceRecreate = true })
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

	res, err, _ := f.reconcile(func(o *Options) { o.ForceConflicts = true })
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

// requireNodes skips a test that needs pods to run when the cluster has no
// Ready node.
func requireNodes(t *testing.T, f *fixture) {
	t.Helper()
	nodes, err := f.client.Clientset.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes.Items {
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				return
			}
		}
	}
	t.Skip("the test cluster has no Ready node")
}

func TestHealthReportsUnschedulablePod(t *testing.T) {
	f := newFixture(t)
	requireNodes(t, f)
	f.component("serving", nil, deployment("model-server", 1, "1000"))
	res, err, _ := f.reconcile(func(o *Options) { o.Timeout = 8 * time.Second })
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
	_, err, _ := f.reconcile(func(o *Options) {
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
