package render

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/kubeversion"
	"github.com/envctl/envctl/internal/ownership"
)

// gadgetCRD defines the cluster-scoped... no: namespaced kind
// Gadget.gadgets.example.com in version v1.
const gadgetCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.gadgets.example.com
spec:
  group: gadgets.example.com
  scope: Namespaced
  names: {kind: Gadget, plural: gadgets, singular: gadget}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
`

// capsChart is a chart that needs Kubernetes 1.30 or later and branches on
// the API versions it is rendered for.
var capsChart = map[string]string{
	"charts/caps/Chart.yaml": "apiVersion: v2\nname: caps\nversion: 1.0.0\nkubeVersion: \">=1.30.0-0\"\n",
	"charts/caps/templates/report.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: caps-report
data:
  kubeVersion: {{ .Capabilities.KubeVersion.Version | quote }}
  hasGadget: {{ .Capabilities.APIVersions.Has "gadgets.example.com/v1/Gadget" | quote }}
  hasGadgetGV: {{ .Capabilities.APIVersions.Has "gadgets.example.com/v1" | quote }}
  isUpgrade: {{ .Release.IsUpgrade | quote }}
  isInstall: {{ .Release.IsInstall | quote }}
{{- if .Capabilities.APIVersions.Has "gadgets.example.com/v1/Gadget" }}
---
apiVersion: gadgets.example.com/v1
kind: Gadget
metadata:
  name: caps-gadget
{{- end }}
`,
}

// fidelityRepo writes files into a new repository and returns a snapshot.
func fidelityRepo(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	writeTree(t, root, files)
	return root
}

func newEnv(provider string, comps ...config.Component) *config.Environment {
	env := &config.Environment{
		APIVersion: config.APIVersion, Kind: config.KindEnvironment,
		Metadata: config.Metadata{Name: "fid"}, File: "environments/fid.yaml",
		Spec: config.EnvironmentSpec{Cluster: config.ClusterSpec{Provider: provider}, Components: comps},
	}
	env.ApplyDefaults(config.DefaultSettings())
	return env
}

func renderRepo(t *testing.T, root string, env *config.Environment, mutate func(*Options)) (*Result, error) {
	t.Helper()
	opts := Options{
		Source: fixtureSnapshot(t, root), Environment: env,
		Settings:      config.RenderSettings{Concurrency: 4},
		ChartCacheDir: filepath.Join(t.TempDir(), "charts"),
	}
	if mutate != nil {
		mutate(&opts)
	}
	return Render(context.Background(), opts)
}

func configData(t *testing.T, res *Result, name string) map[string]any {
	t.Helper()
	return findObject(t, res, "ConfigMap", name).Object["data"].(map[string]any)
}

// TestChartCapabilities renders a chart whose kubeVersion needs 1.30 or
// later and whose templates ask for a kind that another component's CRD
// defines: offline for each provider, and with the cluster's capabilities.
func TestChartCapabilities(t *testing.T) {
	files := map[string]string{"crds/gadget.yaml": gadgetCRD}
	for k, v := range capsChart {
		files[k] = v
	}
	root := fidelityRepo(t, files)
	comps := []config.Component{
		{Name: "caps", Helm: &config.HelmRelease{Chart: "charts/caps", Namespace: "caps"}},
		{Name: "crds", Manifests: &config.Manifests{Path: "crds"}},
	}
	tests := []struct {
		name     string
		env      *config.Environment
		mutate   func(*Options)
		version  string
		hasKinds string
	}{
		{name: "embedded", env: newEnv(config.ProviderEmbedded, comps...), version: kubeversion.Embedded(), hasKinds: "true"},
		{name: "auto", env: newEnv(config.ProviderAuto, comps...), version: kubeversion.Embedded(), hasKinds: "true"},
		{name: "kind node image", env: func() *config.Environment {
			e := newEnv(config.ProviderKind, comps...)
			e.Spec.Cluster.Kind = &config.KindSpec{NodeImage: "kindest/node:v1.31.4@sha256:0123"}
			return e
		}(), version: "v1.31.4", hasKinds: "true"},
		{name: "render.kubeVersion", env: newEnv(config.ProviderExisting, comps...),
			mutate: func(o *Options) { o.Settings.KubeVersion = "v1.32.1" }, version: "v1.32.1", hasKinds: "true"},
		{name: "cluster", env: newEnv(config.ProviderExisting, comps...),
			mutate: func(o *Options) {
				o.Capabilities = &Capabilities{KubeVersion: "v1.35.0", APIVersions: []string{"v1", "apps/v1", "apps/v1/Deployment"}, Source: "test"}
			}, version: "v1.35.0", hasKinds: "true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := renderRepo(t, root, tt.env, tt.mutate)
			if err != nil {
				t.Fatal(err)
			}
			data := configData(t, res, "caps-report")
			want := map[string]any{"kubeVersion": tt.version, "hasGadget": tt.hasKinds, "hasGadgetGV": tt.hasKinds, "isUpgrade": "false", "isInstall": "true"}
			if diff := cmp.Diff(want, data); diff != "" {
				t.Errorf("what the chart saw (-want +got):\n%s", diff)
			}
			findObject(t, res, "Gadget", "caps-gadget")
		})
	}

	// A cluster older than the chart allows is refused, naming the chart.
	_, err := renderRepo(t, root, newEnv(config.ProviderExisting, comps...), func(o *Options) { o.Settings.KubeVersion = "v1.29.0" })
	if err == nil || !strings.Contains(err.Error(), "charts/caps") || !strings.Contains(err.Error(), "1.29") || errs.KindOf(err) != errs.KindInput {
		t.Errorf("render for v1.29: %v, want a bad-input error naming the chart and the version", err)
	}
}

// TestChartCapabilitiesFromOwnTemplates: a chart whose templates (not crds/)
// define a CRD and branch on it renders again once the CRD is known.
func TestChartCapabilitiesFromOwnTemplates(t *testing.T) {
	files := map[string]string{"charts/caps/templates/crd.yaml": gadgetCRD}
	for k, v := range capsChart {
		files[k] = v
	}
	root := fidelityRepo(t, files)
	res, err := renderRepo(t, root, newEnv(config.ProviderEmbedded,
		config.Component{Name: "caps", Helm: &config.HelmRelease{Chart: "charts/caps", Namespace: "caps"}}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := configData(t, res, "caps-report")["hasGadget"]; got != "true" {
		t.Errorf("hasGadget = %v, want true once the chart's own CRD is known", got)
	}
}

// TestReleaseIsUpgrade: a release whose objects are in the cluster renders
// as an upgrade.
func TestReleaseIsUpgrade(t *testing.T) {
	root := fidelityRepo(t, capsChart)
	env := newEnv(config.ProviderEmbedded, config.Component{Name: "caps", Helm: &config.HelmRelease{Chart: "charts/caps", Namespace: "caps"}})
	for _, installed := range []bool{false, true} {
		res, err := renderRepo(t, root, env, func(o *Options) {
			o.Installed = func(c string) bool { return installed && c == "caps" }
		})
		if err != nil {
			t.Fatal(err)
		}
		data := configData(t, res, "caps-report")
		if data["isUpgrade"] != boolString(installed) || data["isInstall"] != boolString(!installed) {
			t.Errorf("installed=%v: IsUpgrade=%v IsInstall=%v", installed, data["isUpgrade"], data["isInstall"])
		}
	}
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

var plainChart = map[string]string{
	"charts/plain/Chart.yaml": "apiVersion: v2\nname: plain\nversion: 1.0.0\n",
	"charts/plain/templates/cm.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-settings
`,
}

func sourcesOf(res *Result, component string) []string {
	var out []string
	for _, it := range res.Items() {
		if it.Component == component {
			out = append(out, it.Source())
		}
	}
	return out
}

// TestReleaseNamespaces: a release into a namespace no component declares
// creates it; one another component declares is left to it (and ordered
// after it); createNamespace false adds nothing; two releases sharing one
// namespace create it once.
func TestReleaseNamespaces(t *testing.T) {
	files := map[string]string{"ns/namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shared\n"}
	for k, v := range plainChart {
		files[k] = v
	}
	root := fidelityRepo(t, files)
	no := false
	env := newEnv(config.ProviderEmbedded,
		config.Component{Name: "a", Helm: &config.HelmRelease{Chart: "charts/plain", Namespace: "apps"}},
		config.Component{Name: "b", Helm: &config.HelmRelease{Chart: "charts/plain", Namespace: "apps"}},
		config.Component{Name: "c", Helm: &config.HelmRelease{Chart: "charts/plain", Namespace: "shared"}},
		config.Component{Name: "d", Helm: &config.HelmRelease{Chart: "charts/plain", Namespace: "unmanaged", CreateNamespace: &no}},
		config.Component{Name: "e", Helm: &config.HelmRelease{Chart: "charts/plain"}},
		config.Component{Name: "ns", Manifests: &config.Manifests{Path: "ns"}},
	)
	res, err := renderRepo(t, root, env, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"a":  {"a/Namespace/apps", "a/ConfigMap/apps/a-settings"},
		"b":  {"b/ConfigMap/apps/b-settings"},
		"c":  {"c/ConfigMap/shared/c-settings"},
		"d":  {"d/ConfigMap/unmanaged/d-settings"},
		"e":  {"e/ConfigMap/default/e-settings"},
		"ns": {"ns/Namespace/shared"},
	}
	for comp, w := range want {
		if diff := cmp.Diff(w, sourcesOf(res, comp)); diff != "" {
			t.Errorf("component %s (-want +got):\n%s", comp, diff)
		}
	}
	ns := findObject(t, res, "Namespace", "apps")
	if ns.GetLabels()[ownership.LabelComponent] != "a" || ns.GetLabels()[ownership.LabelEnvironment] != "fid" {
		t.Errorf("created namespace labels = %v, want the ownership labels of component a", ns.GetLabels())
	}
	var order []string
	for _, c := range res.Components {
		order = append(order, c.Name)
	}
	if diff := cmp.Diff([]string{"a", "d", "e", "ns", "b", "c"}, order); diff != "" {
		t.Errorf("order (-want +got): b needs a's namespace, c needs ns's:\n%s", diff)
	}

	// Rendering c alone still knows that ns declares its namespace.
	res, err = renderRepo(t, root, env, func(o *Options) { o.Components = []string{"c"} })
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"c/ConfigMap/shared/c-settings"}, sourcesOf(res, "c")); diff != "" {
		t.Errorf("c alone (-want +got):\n%s", diff)
	}
}

// TestManifestDirectory reads a plain directory: nested files, several
// documents in a file, a List, JSON, include and exclude globs; files of
// other types are ignored.
func TestManifestDirectory(t *testing.T) {
	root := fidelityRepo(t, map[string]string{
		"deploy/namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: plain\n",
		"deploy/apps/web/all.yml": `# two documents
apiVersion: v1
kind: ConfigMap
metadata:
  name: web
  namespace: plain
  labels:
    app.kubernetes.io/managed-by: kubectl
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: plain
spec:
  ports: [{port: 80}]
---
`,
		"deploy/apps/list.yaml": `apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: ConfigMap
    metadata: {name: listed-a, namespace: plain}
  - apiVersion: v1
    kind: ConfigMap
    metadata: {name: listed-b, namespace: plain}
`,
		"deploy/apps/db.json":            `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "from-json", "namespace": "plain"}}`,
		"deploy/apps/README.md":          "# not a manifest\n",
		"deploy/apps/values.txt":         "key: value\n",
		"deploy/dev/only-dev.yaml":       "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dev-only\n  namespace: plain\n",
		"deploy/.hidden/ignored.yaml":    "not: [valid",
		"deploy/apps/web/skip-test.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: test-only\n  namespace: plain\n",
	})
	env := newEnv(config.ProviderEmbedded, config.Component{Name: "plain", Manifests: &config.Manifests{
		Path: "deploy", Exclude: []string{"dev/**", "skip-*.yaml"},
	}})
	res, err := renderRepo(t, root, env, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"plain/Namespace/plain",
		"plain/ConfigMap/plain/from-json",
		"plain/ConfigMap/plain/listed-a",
		"plain/ConfigMap/plain/listed-b",
		"plain/ConfigMap/plain/web",
		"plain/Service/plain/web",
	}
	if diff := cmp.Diff(want, sourcesOf(res, "plain")); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}
	if got := findObject(t, res, "ConfigMap", "web").GetLabels()[ownership.LegacyLabelManagedBy]; got != "kubectl" {
		t.Errorf("the manifest's managed-by label = %q, want kubectl as written", got)
	}

	// include keeps only what it matches.
	env.Spec.Components[0].Manifests = &config.Manifests{Path: "deploy", Include: []string{"apps/**/*.yml", "namespace.yaml"}}
	res, err = renderRepo(t, root, env, nil)
	if err != nil {
		t.Fatal(err)
	}
	want = []string{"plain/Namespace/plain", "plain/ConfigMap/plain/web", "plain/Service/plain/web"}
	if diff := cmp.Diff(want, sourcesOf(res, "plain")); diff != "" {
		t.Errorf("with include (-want +got):\n%s", diff)
	}
}

func TestManifestDirectoryErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"bad yaml", map[string]string{"d/bad.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: [\n"}, []string{"d/bad.yaml", "line"}},
		{"no name", map[string]string{"d/sub/x.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n"}, []string{"d/sub/x.yaml", "metadata.name"}},
		{"kustomization", map[string]string{"d/kustomization.yaml": "resources: []\n"}, []string{"kustomization.yaml", "kustomize component"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := fidelityRepo(t, tt.files)
			_, err := renderRepo(t, root, newEnv(config.ProviderEmbedded, config.Component{Name: "m", Manifests: &config.Manifests{Path: "d"}}), nil)
			if err == nil || errs.KindOf(err) != errs.KindInput {
				t.Fatalf("err = %v, want bad input", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestInferredOrder: a component listed first whose objects need another
// component's CRD and namespace is ordered after it, with the reasons.
func TestInferredOrder(t *testing.T) {
	root := fidelityRepo(t, map[string]string{
		"app/gadget.yaml":   "apiVersion: gadgets.example.com/v1\nkind: Gadget\nmetadata:\n  name: g1\n  namespace: tools\n",
		"app/cm.yaml":       "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c1\n  namespace: tools\n",
		"platform/crd.yaml": gadgetCRD + "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: tools\n",
		"other/cm.yaml":     "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\n  namespace: default\n",
	})
	env := newEnv(config.ProviderEmbedded,
		config.Component{Name: "app", Manifests: &config.Manifests{Path: "app"}},
		config.Component{Name: "other", Manifests: &config.Manifests{Path: "other"}, DependsOn: []string{"app"}},
		config.Component{Name: "platform", Manifests: &config.Manifests{Path: "platform"}},
	)
	res, err := renderRepo(t, root, env, nil)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, c := range res.Components {
		order = append(order, c.Name)
	}
	if diff := cmp.Diff([]string{"platform", "app", "other"}, order); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
	app := res.Components[1]
	if diff := cmp.Diff([]string{"platform"}, app.DependsOn); diff != "" {
		t.Errorf("app dependsOn (-want +got):\n%s", diff)
	}
	wantEdges := []Edge{{On: "platform", Reasons: []string{
		"Gadget tools/g1 is a Gadget.gadgets.example.com, defined by CRD gadgets.gadgets.example.com",
		"Gadget tools/g1 is in namespace tools",
		"ConfigMap tools/c1 is in namespace tools",
	}}}
	slices.SortFunc(app.Edges[0].Reasons, strings.Compare)
	slices.SortFunc(wantEdges[0].Reasons, strings.Compare)
	if diff := cmp.Diff(wantEdges, app.Edges); diff != "" {
		t.Errorf("app edges (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]Edge{{On: "app", Declared: true}}, res.Components[2].Edges); diff != "" {
		t.Errorf("other's declared edge (-want +got):\n%s", diff)
	}
}

// TestInferredOrderDeclaredWins: dependsOn saying the opposite of what the
// objects imply wins; inferred edges closing a cycle are an error naming
// the objects behind each edge.
func TestInferredOrderCycles(t *testing.T) {
	root := fidelityRepo(t, map[string]string{
		"a/ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ns-a\n",
		"a/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: in-b\n  namespace: ns-b\n",
		"b/ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ns-b\n",
		"b/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: in-a\n  namespace: ns-a\n",
	})
	a := config.Component{Name: "a", Manifests: &config.Manifests{Path: "a"}}
	b := config.Component{Name: "b", Manifests: &config.Manifests{Path: "b"}}
	_, err := renderRepo(t, root, newEnv(config.ProviderEmbedded, a, b), nil)
	if err == nil || errs.KindOf(err) != errs.KindInput {
		t.Fatalf("err = %v, want a bad-input cycle error", err)
	}
	for _, w := range []string{"cycle", "a needs b: ConfigMap ns-b/in-b is in namespace ns-b", "b needs a: ConfigMap ns-a/in-a is in namespace ns-a"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not say %q:\n%v", w, err)
		}
	}

	// With b declared after a, the inferred edge from a to b yields.
	b.DependsOn = []string{"a"}
	res, err := renderRepo(t, root, newEnv(config.ProviderEmbedded, a, b), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Components[0].Name != "a" || len(res.Components[0].DependsOn) != 0 {
		t.Errorf("a = %+v, want first with no dependency", res.Components[0])
	}
}
