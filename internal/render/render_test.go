package render

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/ownership"
	"github.com/envctl/envctl/internal/source"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// canary is the Secret value in the fixture's secretGenerator; it may appear
// in rendered output but never in an error or a log line.
const canary = "fixture-secret-canary-3141"

// fixtureEnv is the environment the fixture repository under testdata/repo
// declares: a kustomize overlay with generators and a Helm chart with
// values files, inline values, hooks, a test hook and crds/.
func fixtureEnv() *config.Environment {
	env := &config.Environment{
		APIVersion: config.APIVersion,
		Kind:       config.KindEnvironment,
		Metadata:   config.Metadata{Name: "dev"},
		File:       "environments/dev.yaml",
		Spec: config.EnvironmentSpec{
			Components: []config.Component{
				{Name: "demo", DependsOn: []string{"app"}, Helm: &config.HelmRelease{
					Chart:       "charts/demo",
					Namespace:   "demo",
					ValuesFiles: []string{"values/demo-base.yaml", "values/demo-dev.yaml"},
					Values:      map[string]any{"replicas": 3, "image": map[string]any{"repository": "registry.example.com/demo-dev"}},
				}},
				{Name: "app", Kustomize: "overlays/dev"},
			},
		},
	}
	env.ApplyDefaults(config.DefaultSettings())
	return env
}

// fixtureSettings pins the Kubernetes version so that the golden files do
// not change with the client-go version envctl is built with.
func fixtureSettings() config.RenderSettings {
	return config.RenderSettings{Concurrency: 4, KubeVersion: "v1.33.0"}
}

func fixtureSnapshot(t testing.TB, dir string) *source.Snapshot {
	t.Helper()
	snap, err := source.Local(dir)
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func renderFixture(t testing.TB, dir string, mutate func(*Options)) (*Result, error) {
	t.Helper()
	opts := Options{
		Source:        fixtureSnapshot(t, dir),
		Environment:   fixtureEnv(),
		Settings:      fixtureSettings(),
		ChartCacheDir: filepath.Join(t.TempDir(), "charts"),
	}
	if mutate != nil {
		mutate(&opts)
	}
	return Render(context.Background(), opts)
}

func yamlOf(t testing.TB, res *Result) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := WriteYAML(&b, res); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func jsonOf(t testing.TB, res *Result) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := WriteJSON(&b, res); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// golden compares got with testdata/name, rewriting it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got; go test -update rewrites it):\n%s", name, diff)
	}
}

func TestRenderFixtureGolden(t *testing.T) {
	res, err := renderFixture(t, "testdata/repo", nil)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "dev.golden.yaml", yamlOf(t, res))
	golden(t, "dev.golden.json", jsonOf(t, res))
}

// TestRenderFixture checks what a user reads in the golden file, so that a
// careless -update cannot bless a wrong render.
func TestRenderFixture(t *testing.T) {
	res, err := renderFixture(t, "testdata/repo", nil)
	if err != nil {
		t.Fatal(err)
	}
	// The fixture sits inside this repository's work tree: its revision is
	// the work tree's (sha1:<HEAD>[-dirty]), as source.Local reports it.
	if want := fixtureSnapshot(t, "testdata/repo").Revision; res.Environment != "dev" || res.Revision != want || !strings.HasPrefix(want, "sha1:") {
		t.Errorf("result is for %s at %s, want dev at %s (sha1:...)", res.Environment, res.Revision, want)
	}
	var names []string
	for _, c := range res.Components {
		names = append(names, c.Name)
	}
	if diff := cmp.Diff([]string{"app", "demo"}, names); diff != "" {
		t.Errorf("component order (-want +got):\n%s", diff)
	}

	var sources []string
	for _, it := range res.Items() {
		sources = append(sources, it.Source())
		labels := it.Object.GetLabels()
		for k, v := range map[string]string{ownership.LabelManagedBy: ownership.ManagedByValue, ownership.LabelEnvironment: "dev", ownership.LabelComponent: it.Component} {
			if labels[k] != v {
				t.Errorf("%s: label %s = %q, want %q", it.Source(), k, labels[k], v)
			}
		}
	}
	wantSources := []string{
		"app/Namespace/dev",
		"app/Secret/dev/app-credentials-" + secretHash(t, res),
		"app/ConfigMap/dev/app-config-" + configMapHash(t, res),
		"app/Service/dev/app",
		"app/Deployment/dev/app",
		"demo/CustomResourceDefinition/widgets.demo.envctl.dev",
		// No component declares the release's namespace: the release
		// creates it, as helm install --create-namespace.
		"demo/Namespace/demo",
		"demo/ClusterRole/demo-widget-reader",
		"demo/ConfigMap/demo/demo-settings",
		"demo/Deployment/demo/demo",
		"demo/Widget/demo/demo-widget",
		"demo/Job/demo/demo-migrate",
		"demo/ConfigMap/demo/demo-installed",
	}
	if diff := cmp.Diff(wantSources, sources); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}

	demo := res.Components[1]
	if demo.Namespace != "demo" || len(res.Components[0].Namespace) != 0 {
		t.Errorf("component namespaces = %q, %q; want \"\", demo", res.Components[0].Namespace, demo.Namespace)
	}
	dep := findObject(t, res, "Deployment", "demo")
	// The chart's own labels reach the output as written, managed-by too:
	// envctl's marks are all under envctl.dev/.
	if got := dep.GetLabels()[ownership.LegacyLabelManagedBy]; got != "Helm" {
		t.Errorf("the chart's label %s = %q, want Helm as the chart sets it", ownership.LegacyLabelManagedBy, got)
	}
	replicas, _, _ := unstructured.NestedInt64(dep.Object, "spec", "replicas")
	if replicas != 3 {
		t.Errorf("demo replicas = %d, want 3 (inline values override values files)", replicas)
	}
	image := dep.Object["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)
	if image["image"] != "registry.example.com/demo-dev:2.4.1" {
		t.Errorf("demo image = %v, want the inline repository with the values file's tag", image["image"])
	}
	if args := image["args"].([]any); args[0] != "--log-level=debug" {
		t.Errorf("demo args = %v, want the second values file to win", args)
	}
	if _, found := image["env"]; found {
		t.Errorf("lookup found a Secret although rendering has no cluster")
	}
	// Selectors and pod templates are not relabelled.
	sel := dep.Object["spec"].(map[string]any)["selector"].(map[string]any)["matchLabels"].(map[string]any)
	if _, ok := sel[ownership.LabelComponent]; ok {
		t.Errorf("ownership label added to the selector: %v", sel)
	}

	if len(demo.Hooks) != 2 {
		t.Fatalf("demo has %d hooks, want the migrate Job and the post-install ConfigMap (the test Pod is kept apart)", len(demo.Hooks))
	}
	if len(demo.Tests) != 1 || demo.Tests[0].Object.GetKind() != "Pod" || demo.Tests[0].Phases[0] != Test {
		t.Errorf("demo tests = %v, want the test Pod", demo.Tests)
	}
	job := demo.Hooks[0]
	if diff := cmp.Diff([]HookPhase{PreInstall, PreUpgrade}, job.Phases); diff != "" {
		t.Errorf("job phases (-want +got):\n%s", diff)
	}
	if job.Weight != -5 {
		t.Errorf("job weight = %d, want -5", job.Weight)
	}
	if diff := cmp.Diff([]string{HookBeforeCreation, HookSucceeded}, job.DeletePolicies); diff != "" {
		t.Errorf("job delete policies (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{HookBeforeCreation}, demo.Hooks[1].DeletePolicies); diff != "" {
		t.Errorf("a hook without a delete policy gets Helm's default (-want +got):\n%s", diff)
	}

	cm := findObject(t, res, "ConfigMap", "demo-settings")
	data := cm.Object["data"].(map[string]any)
	if data["kubeVersion"] != "v1.33.0" || data["hasAutoscalingV2"] != "true" {
		t.Errorf("capabilities seen by the chart: %v", data)
	}
}

func TestRenderIsDeterministic(t *testing.T) {
	var outputs [][]byte
	for _, conc := range []int{1, 8, 1, 8} {
		res, err := renderFixture(t, "testdata/repo", func(o *Options) { o.Settings.Concurrency = conc })
		if err != nil {
			t.Fatal(err)
		}
		outputs = append(outputs, append(yamlOf(t, res), jsonOf(t, res)...))
	}
	for i := 1; i < len(outputs); i++ {
		if !bytes.Equal(outputs[0], outputs[i]) {
			t.Fatalf("render %d differs from render 0:\n%s", i, cmp.Diff(string(outputs[0]), string(outputs[i])))
		}
	}
}

func TestRenderComponentFilter(t *testing.T) {
	res, err := renderFixture(t, "testdata/repo", func(o *Options) { o.Components = []string{"demo"} })
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Components) != 1 || res.Components[0].Name != "demo" {
		t.Fatalf("components = %v, want demo only", res.Components)
	}
	if got := res.Components[0].DependsOn; len(got) != 1 || got[0] != "app" {
		t.Errorf("demo dependsOn = %v, want [app]", got)
	}
}

func findObject(t *testing.T, res *Result, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, it := range res.Items() {
		if it.Object.GetKind() == kind && it.Object.GetName() == name {
			return it.Object
		}
	}
	t.Fatalf("no %s %s in the render", kind, name)
	return nil
}

// secretHash and configMapHash return the name suffixes kustomize's
// generators gave, which change only when the generated content does.
func secretHash(t *testing.T, res *Result) string {
	return generatedSuffix(t, res, "Secret", "app-credentials-")
}

func configMapHash(t *testing.T, res *Result) string {
	return generatedSuffix(t, res, "ConfigMap", "app-config-")
}

func generatedSuffix(t *testing.T, res *Result, kind, prefix string) string {
	t.Helper()
	for _, it := range res.Items() {
		if it.Object.GetKind() == kind && strings.HasPrefix(it.Object.GetName(), prefix) {
			return strings.TrimPrefix(it.Object.GetName(), prefix)
		}
	}
	t.Fatalf("no generated %s %s*", kind, prefix)
	return ""
}

// TestRenderWithoutCRDs leaves the chart's crds/ out. The Widget then has no
// CRD in the render, so render cannot know its scope: it keeps no namespace
// and the component's Namespace tells the apply engine where it belongs.
func TestRenderWithoutCRDs(t *testing.T) {
	res, err := renderFixture(t, "testdata/repo", func(o *Options) {
		no := false
		o.Environment.Component("demo").Helm.IncludeCRDs = &no
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range res.Items() {
		if it.Object.GetKind() == "CustomResourceDefinition" {
			t.Errorf("CRD %s rendered although includeCRDs is false", it.Object.GetName())
		}
	}
	w := findObject(t, res, "Widget", "demo-widget")
	if w.GetNamespace() != "" {
		t.Errorf("Widget of unknown scope got namespace %q", w.GetNamespace())
	}
	if ns := res.Components[1].Namespace; ns != "demo" {
		t.Errorf("component namespace = %q, want demo", ns)
	}
	// Kinds render knows still get the release namespace.
	if cm := findObject(t, res, "ConfigMap", "demo-settings"); cm.GetNamespace() != "demo" {
		t.Errorf("ConfigMap namespace = %q, want demo", cm.GetNamespace())
	}
}
