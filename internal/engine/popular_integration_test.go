package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/kube"
	"github.com/envctl/envctl/internal/render"
	"github.com/envctl/envctl/internal/source"
)

// popularCharts is render's directory of charts in the shapes popular
// public charts use, and values files for them.
var popularCharts = filepath.Join("..", "render", "testdata", "popular")

// popularRelease is one chart of popularCharts as a component.
type popularRelease struct {
	chart  string
	values string
}

// popularRepo writes a repository holding popularCharts and an environment
// of the releases, all in namespace ns, and loads it. Chart lookups are
// allowed, as a repository that relies on them would say.
func popularRepo(t *testing.T, env, ns string, releases ...popularRelease) *Declared {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(popularCharts)); err != nil {
		t.Fatal(err)
	}
	var comps strings.Builder
	for _, r := range releases {
		fmt.Fprintf(&comps, "    - name: %s\n      helm: {chart: charts/%s, release: %s, namespace: %s, createNamespace: false, valuesFiles: [values/%s]}\n",
			r.chart, r.chart, r.chart, ns, r.values)
	}
	files := map[string]string{
		"config.yaml": "apiVersion: envctl.dev/v1alpha1\nkind: Config\nmetadata: {name: popular-charts}\n" +
			"spec: {defaultEnvironment: " + env + ", render: {allowChartLookup: true}}\n",
		"environments/" + env + ".yaml": "apiVersion: envctl.dev/v1alpha1\nkind: Environment\nmetadata: {name: " + env + "}\n" +
			"spec:\n  cluster: {provider: existing}\n  components:\n" + comps.String(),
	}
	for rel, body := range files {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	d, err := LoadSnapshot(mustLocal(t, dir), LoadOptions{
		Source: source.Dir{Path: dir},
		Config: config.LoadOptions{LookupEnv: func(string) (string, bool) { return "", false }},
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// popularEngine is an engine on the test cluster whose requests are
// counted, with a teardown of the environment when the test ends, so that
// its cluster-scoped objects (CRDs, ClusterRoles, an IngressClass, a Role in
// kube-system) do not outlive it.
func popularEngine(t *testing.T, d *Declared) (*Engine, *kube.Counter) {
	t.Helper()
	cfg, counter := kube.CountingConfig(testConfig(t))
	client, err := kube.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	eng := New(Config{Client: client, ChartCacheDir: t.TempDir()})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		req := Request{Declared: d, Policy: Policy{ForcePrune: true, Timeout: time.Minute}}
		inv, err := eng.Applied(ctx, req)
		if err != nil || inv == nil {
			return
		}
		if _, err := eng.Teardown(ctx, req, inv, false); err != nil {
			t.Errorf("teardown: %v", err)
		}
	})
	return eng, counter
}

// hookOrder lists, for each component, the hooks the events say started,
// as "phase Kind name", in the order they started.
func hookOrder(events []Event, ns string) map[string][]string {
	out := map[string][]string{}
	for _, e := range events {
		if e.Type == HookStarted {
			kind, name, _ := strings.Cut(e.Object, " ")
			kind, _, _ = strings.Cut(kind, ".")
			out[e.Component] = append(out[e.Component], e.Message+" "+kind+" "+strings.TrimPrefix(name, ns+"/"))
		}
	}
	return out
}

// TestPopularChartsReconcile applies six charts in popular charts' shapes
// as one environment from nothing: hooks run in Helm's order (weight, then
// name, then kind) with their delete policies, a chart's lookup finds the
// Secret the cluster holds, a release whose objects need another's CRD
// waits for it, everything becomes healthy, and a second reconcile writes
// nothing. The charts' tests then run in weight order.
func TestPopularChartsReconcile(t *testing.T) {
	ns := testNamespace(t)
	env := "charts-" + ns[strings.LastIndex(ns, "-")+1:]
	d := popularRepo(t, env, ns,
		popularRelease{"edge", "edge.yaml"},
		popularRelease{"certs", "certs.yaml"},
		popularRelease{"monitor", "monitor.yaml"},
		popularRelease{"db", "db.yaml"},
		popularRelease{"gitops", "gitops.yaml"},
		popularRelease{"dns", "dns.yaml"},
	)
	eng, counter := popularEngine(t, d)
	requireNodes(t, &fixture{t: t, client: eng.Client()})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// The database's Secret is there already, with a password the chart
	// keeps (lookup) over the one its values give.
	_, err := eng.Client().Clientset.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Data:       map[string][]byte{"password": []byte("from-cluster")},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	var events []Event
	req := Request{Declared: d, Policy: Policy{Timeout: 90 * time.Second}, OnEvent: func(e Event) { events = append(events, e) }}
	start := time.Now()
	res, err := eng.Reconcile(ctx, req)
	if err != nil {
		t.Fatalf("first reconcile: %v", err)
	}
	first := counter.Snapshot()
	t.Logf("from nothing to healthy in %v (%d requests, %d writes)", time.Since(start).Round(time.Millisecond), first.Requests, first.Writes)
	for _, c := range res.Components {
		if c.State != Healthy || c.Counts.Created+c.Counts.Configured != len(c.Changes) || len(c.Changes) == 0 {
			t.Errorf("component %s: %s %+v %s", c.Name, c.State, c.Counts, c.Reason)
		}
	}

	wantHooks := map[string][]string{
		"edge": {
			"pre-install ServiceAccount edge-admission", "pre-install Job edge-admission-create",
			"post-install ServiceAccount edge-admission", "post-install Job edge-admission-patch",
		},
		// Weight -5 for the account, role and binding: by name, then kind.
		"certs": {
			"post-install ServiceAccount certs-startupapicheck", "post-install Role certs-startupapicheck:create-cert",
			"post-install RoleBinding certs-startupapicheck:create-cert", "post-install Job certs-startupapicheck",
		},
		// Weight 0: the Job db-check before the ConfigMap db-upgrade-plan
		// (by name), then the Secret of weight 5.
		"db": {"pre-install Job db-check", "pre-install ConfigMap db-upgrade-plan", "pre-install Secret db-bootstrap"},
		// One weight and one name: kind order.
		"gitops": {
			"pre-install ServiceAccount gitops-redis-secret-init", "pre-install Role gitops-redis-secret-init",
			"pre-install RoleBinding gitops-redis-secret-init", "pre-install Job gitops-redis-secret-init",
		},
	}
	if diff := cmp.Diff(wantHooks, hookOrder(events, ns)); diff != "" {
		t.Errorf("hooks run (-want +got):\n%s", diff)
	}
	// What the delete policies leave: hook-succeeded hooks are gone, the
	// others stay until the next run's before-hook-creation.
	gone := []string{"serviceaccounts/edge-admission", "jobs/edge-admission-create", "jobs/edge-admission-patch",
		"serviceaccounts/certs-startupapicheck", "jobs/certs-startupapicheck", "secrets/db-bootstrap", "jobs/gitops-redis-secret-init"}
	kept := []string{"jobs/db-check", "configmaps/db-upgrade-plan", "serviceaccounts/gitops-redis-secret-init", "roles/gitops-redis-secret-init"}
	for _, p := range slices.Concat(gone, kept) {
		resource, name, _ := strings.Cut(p, "/")
		gvr := schema.GroupVersionResource{Version: "v1", Resource: resource}
		switch resource {
		case "jobs":
			gvr.Group = "batch"
		case "roles":
			gvr.Group = "rbac.authorization.k8s.io"
		}
		_, err := eng.Client().Dynamic.Resource(gvr).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
		if want := slices.Contains(gone, p); want != apierrors.IsNotFound(err) {
			t.Errorf("hook %s: deleted = %v, want %v (err=%v)", p, !want, want, err)
		}
	}

	// lookup found the Secret: its password is the cluster's.
	sec, err := eng.Client().Clientset.CoreV1().Secrets(ns).Get(ctx, "db", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(sec.Data["password"]); got != "from-cluster" {
		t.Errorf("db password = %q, want the one lookup found", got)
	}
	// dns's Monitor is of a kind monitor's crds/ define: it waits for it.
	dns := res.Rendered.Result.Components[slices.IndexFunc(res.Rendered.Result.Components, func(c *render.Component) bool { return c.Name == "dns" })]
	if !slices.Contains(dns.DependsOn, "monitor") {
		t.Errorf("dns depends on %v, want monitor (its CRD)", dns.DependsOn)
	}

	events = nil
	res, err = eng.Reconcile(ctx, req)
	if err != nil {
		t.Fatalf("second reconcile: %v", err)
	}
	second := counter.Snapshot().Sub(first)
	t.Logf("again: %d requests, %d writes", second.Requests, second.Writes)
	if second.Writes != 0 {
		t.Errorf("second reconcile made %d writes: %v", second.Writes, second.WritePaths)
	}
	for _, c := range res.Components {
		if c.State != Healthy || c.Counts.Unchanged != len(c.Changes) || len(c.Hooks) != 0 {
			t.Errorf("second reconcile: component %s %s %+v, %d hooks", c.Name, c.State, c.Counts, len(c.Hooks))
		}
	}
	if got := hookOrder(events, ns); len(got) != 0 {
		t.Errorf("second reconcile ran hooks: %v", got)
	}

	results, err := eng.Test(ctx, req)
	if err != nil {
		t.Fatalf("chart tests: %v", err)
	}
	var ran []string
	for _, r := range results {
		if !r.Passed {
			t.Errorf("test %s of %s failed: %s", r.Object, r.Component, r.Error)
		}
		ran = append(ran, r.Component+" "+strings.Replace(r.Object, ns+"/", "", 1))
	}
	// Components in apply order (dns after monitor, the rest by name), each
	// component's tests by weight.
	want := []string{"db Pod db-test-query", "edge Pod edge-test-connection", "dns Job.batch dns-test-provider", "dns Pod dns-test-metrics"}
	if diff := cmp.Diff(want, ran); diff != "" {
		t.Errorf("chart tests (-want +got):\n%s", diff)
	}
}

// TestPopularChartsNullMetadata applies charts whose templates leave a
// metadata map null when its values are empty, and checks that a second
// reconcile writes nothing.
func TestPopularChartsNullMetadata(t *testing.T) {
	tests := []struct {
		name    string
		release popularRelease
	}{
		{name: "pod template annotations", release: popularRelease{"dns", "dns-minimal.yaml"}},
		{name: "object annotations", release: popularRelease{"edge", "edge-null-annotations.yaml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := testNamespace(t)
			d := popularRepo(t, "charts-"+ns[strings.LastIndex(ns, "-")+1:], ns, tt.release)
			eng, counter := popularEngine(t, d)
			requireNodes(t, &fixture{t: t, client: eng.Client()})
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			req := Request{Declared: d, Policy: Policy{Timeout: 90 * time.Second}}
			res, err := eng.Reconcile(ctx, req)
			if err != nil {
				t.Fatalf("first reconcile: %v", err)
			}
			for _, c := range res.Components {
				if c.State != Healthy || c.Counts.Created != len(c.Changes) || len(c.Changes) == 0 {
					t.Errorf("first reconcile: component %s %s %+v", c.Name, c.State, c.Counts)
				}
			}
			before := counter.Snapshot()
			res, err = eng.Reconcile(ctx, req)
			if err != nil {
				t.Fatalf("second reconcile: %v", err)
			}
			if reqs := counter.Snapshot().Sub(before); reqs.Writes != 0 {
				t.Errorf("second reconcile made %d writes: %v", reqs.Writes, reqs.WritePaths)
			}
			for _, c := range res.Components {
				if c.State != Healthy || c.Counts.Unchanged != len(c.Changes) {
					t.Errorf("second reconcile: component %s %s %+v", c.Name, c.State, c.Counts)
				}
			}
		})
	}
}
