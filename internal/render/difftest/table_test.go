package difftest

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/yaml"

	"github.com/envctl/envctl/internal/kube"
	"github.com/envctl/envctl/internal/render"
	"github.com/envctl/envctl/internal/render/decodecases"
	"github.com/envctl/envctl/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite testdata/table.golden")

// deliberate is a difference between envctl and kubectl that envctl keeps
// on purpose; the README lists each with its reason.
type deliberate struct {
	mutation string
	// paths it holds for; every path when empty.
	paths []decodecases.Path
	// bases it holds for; every base when empty.
	bases []string
	why   string
}

// deliberateDifferences are the rows where envctl may disagree with kubectl
// and the server. Every other row must agree, and every row listed here
// must disagree, so that the list stays the README's, complete and no
// longer.
var deliberateDifferences = []deliberate{
	{mutation: "label value (null)", why: "sent as \"\", the value the server stores; envctl reads labels itself"},
	{mutation: "annotation value (null)", paths: []decodecases.Path{decodecases.Manifests, decodecases.Helm},
		why: "sent as \"\", the value the server stores; envctl reads annotations itself (kustomize already writes \"\")"},
	{mutation: "Helm hook, null annotation values", paths: []decodecases.Path{decodecases.Manifests, decodecases.Helm},
		why: "sent as \"\", the value the server stores; envctl reads annotations itself, a hook's weight among them"},
	{mutation: "document end marker, then a document", paths: []decodecases.Path{decodecases.Manifests, decodecases.Helm},
		why: "envctl reads the document after \"...\"; kubectl and helm install drop it without a word"},
	{mutation: "the same object twice", paths: []decodecases.Path{decodecases.Manifests, decodecases.Helm},
		why: "refused: an object belongs to one declaration (kubectl applies both, the last wins; kustomize refuses too)"},
}

func (d deliberate) matches(r row) bool {
	return d.mutation == r.c.Mutation.Name &&
		(len(d.paths) == 0 || slices.Contains(d.paths, r.path)) &&
		(len(d.bases) == 0 || slices.Contains(d.bases, r.c.Base.Name))
}

// TestDecodeAgainstServer puts every case of decodecases through each way
// into envctl and through kubectl to the API server, and checks that envctl
// accepts what the server accepts, refuses what it refuses, and sends what
// kubectl sends, but for the deliberate differences. testdata/table.golden
// holds every verdict (go test -update rewrites it); -v prints the table
// with the reasons.
func TestDecodeAgainstServer(t *testing.T) {
	env := testenv.Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	createWidgetCRD(ctx, t, env)
	client, err := kube.New(env.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, render.ClusterLookup(env.RESTConfig()), client)

	type job struct {
		i    int
		c    decodecases.Case
		path decodecases.Path
	}
	var jobs []job
	for _, c := range decodecases.Cases() {
		for _, p := range decodecases.Paths {
			if c.Mutation.Fits(c.Base, p) {
				jobs = append(jobs, job{len(jobs), c, p})
			}
		}
	}
	rows := make([]row, len(jobs))
	queue := make(chan job)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for j := range queue {
				r, err := h.run(ctx, j.c, j.path)
				if err != nil {
					t.Errorf("%s via %s: %v", j.c.Describe(), j.path, err)
				}
				rows[j.i] = r
			}
		})
	}
	for _, j := range jobs {
		queue <- j
	}
	close(queue)
	wg.Wait()
	if t.Failed() {
		return
	}

	var table strings.Builder
	fmt.Fprintf(&table, "%-24s | %-42s | %-9s | %-7s | %-18s | %-18s | %s\n", "base", "mutation", "path", "tool", "server", "envctl", "sent")
	for _, r := range rows {
		fmt.Fprintf(&table, "%-24s | %-42s | %-9s | %-7s | %-18s | %-18s | %s\n",
			r.c.Base.Name, r.c.Mutation.Name, r.path, r.tool, r.server.verdict(), r.envctl.verdict(), r.sent)
	}
	if testing.Verbose() {
		for _, r := range rows {
			t.Logf("%s via %s: server %s, envctl %s, sent %s%s%s%s", r.c.Describe(), r.path,
				r.server.verdict(), r.envctl.verdict(), r.sent,
				reason("server", r.server), reason("envctl", r.envctl), sentDiff(r))
		}
	}
	golden(t, "table.golden", table.String())

	used := make([]bool, len(deliberateDifferences))
	for _, r := range rows {
		i := slices.IndexFunc(deliberateDifferences, func(d deliberate) bool { return d.matches(r) })
		switch {
		case i >= 0 && r.agree():
			t.Errorf("%s via %s is listed as a deliberate difference, but envctl now agrees with kubectl and the server (server %s, envctl %s, sent %s)",
				r.c.Describe(), r.path, r.server.verdict(), r.envctl.verdict(), r.sent)
		case i >= 0:
			used[i] = true
		case !r.agree():
			t.Errorf("%s via %s: server %s, envctl %s, sent %s%s%s%s", r.c.Describe(), r.path,
				r.server.verdict(), r.envctl.verdict(), r.sent, reason("server", r.server), reason("envctl", r.envctl), sentDiff(r))
		}
		if r.c.Base.Name == "Secret" && strings.Contains(r.envctl.reason, "difftest-canary-2718") && r.envctl.refused == "render" {
			t.Errorf("%s via %s: envctl's error quotes the Secret's value", r.c.Describe(), r.path)
		}
	}
	for i, d := range deliberateDifferences {
		if !used[i] {
			t.Errorf("deliberate difference %q matches no row", d.mutation)
		}
	}
}

func reason(side string, o outcome) string {
	if o.ok() {
		return ""
	}
	msg := strings.ReplaceAll(o.reason, "\n", " ")
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	return fmt.Sprintf("\n\t\t%s: %s", side, msg)
}

// widgetCRD is created once per test binary: the cluster is the package's.
var widgetCRD struct {
	once sync.Once
	err  error
}

// createWidgetCRD creates the CRD of the Widget base, once, and waits until
// the API server serves its kind.
func createWidgetCRD(ctx context.Context, t *testing.T, env *testenv.Env) {
	t.Helper()
	widgetCRD.once.Do(func() {
		obj := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(decodecases.WidgetCRDDoc), &obj.Object); err != nil {
			widgetCRD.err = err
			return
		}
		crds := env.Dynamic().Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"})
		if _, err := crds.Create(ctx, obj, metav1.CreateOptions{}); err != nil {
			widgetCRD.err = err
			return
		}
		widgets := env.Dynamic().Resource(schema.GroupVersionResource{Group: decodecases.Group, Version: "v1", Resource: "widgets"})
		widgetCRD.err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			_, err := widgets.Namespace("default").List(ctx, metav1.ListOptions{})
			return err == nil, nil
		})
	})
	if widgetCRD.err != nil {
		t.Fatalf("the Widget CRD: %v", widgetCRD.err)
	}
}

// golden compares got with testdata/name, rewriting it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got; go test -update rewrites it):\n%s", name, diff)
	}
}
