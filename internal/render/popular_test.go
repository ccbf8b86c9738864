package render

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/cli/values"
	"helm.sh/helm/v3/pkg/getter"
	"helm.sh/helm/v3/pkg/release"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/ownership"
)

// popularDir holds charts written in the shapes popular public charts use
// (an ingress controller, a certificate controller with templated CRDs, a
// monitoring stack of aliased subcharts, a database on a library chart, a
// GitOps server, a DNS controller) and values files for them.
const popularDir = "testdata/popular"

// popularNamespace is the release namespace of every case.
const popularNamespace = "apps"

// popularCase is a chart rendered with some values files, by envctl and by
// Helm as `helm template` does.
type popularCase struct {
	name   string
	chart  string
	values []string
	// upgrade renders the release as installed already (helm template
	// --is-upgrade).
	upgrade bool
	// cluster are API versions the cluster serves beyond Helm's defaults,
	// as discovery lists them ("group/version/Kind" included).
	cluster []string
	// crds is a directory of CRDs that another component of the
	// environment declares.
	crds string
	// added are the API versions envctl adds on its own: those of the CRDs
	// the environment and the chart define. Helm is given them as
	// --api-versions.
	added []string
	// objects and hooks are "Kind name" of what the release renders.
	objects, hooks []string
	// nullAnnotations are "Kind name" of objects whose template leaves
	// metadata.annotations null: envctl holds none, as the server stores it.
	nullAnnotations []string
}

var popularCases = []popularCase{
	{
		name: "edge offline", chart: "edge", values: []string{"edge.yaml"},
		// Without discovery Helm knows group/versions only: no IngressClass,
		// and the PodDisruptionBudget falls back to policy/v1beta1.
		objects: []string{"ServiceAccount edge-controller", "ConfigMap edge-controller", "Service edge-controller",
			"Deployment edge-controller", "PodDisruptionBudget edge-controller"},
		hooks: []string{"ServiceAccount edge-admission", "Job edge-admission-create", "Job edge-admission-patch", "Pod edge-test-connection"},
	},
	{
		name: "edge on a cluster", chart: "edge", values: []string{"edge.yaml"},
		cluster: []string{"networking.k8s.io/v1/IngressClass", "policy/v1/PodDisruptionBudget"},
		objects: []string{"ServiceAccount edge-controller", "ConfigMap edge-controller", "Service edge-controller",
			"Deployment edge-controller", "PodDisruptionBudget edge-controller", "IngressClass edge"},
		hooks: []string{"ServiceAccount edge-admission", "Job edge-admission-create", "Job edge-admission-patch", "Pod edge-test-connection"},
	},
	{
		name: "edge with null Service annotations", chart: "edge", values: []string{"edge-null-annotations.yaml"},
		objects:         []string{"ServiceAccount edge-controller", "ConfigMap edge-controller", "Service edge-controller", "Deployment edge-controller"},
		hooks:           []string{"ServiceAccount edge-admission", "Job edge-admission-create", "Job edge-admission-patch", "Pod edge-test-connection"},
		nullAnnotations: []string{"Service edge-controller"},
	},
	{
		name: "certs with templated CRDs", chart: "certs", values: []string{"certs.yaml"},
		added: []string{"certs.example.com/v1", "certs.example.com/v1/Issuer", "certs.example.com/v1/ClusterIssuer"},
		objects: []string{"CustomResourceDefinition issuers.certs.example.com", "CustomResourceDefinition clusterissuers.certs.example.com",
			"ServiceAccount certs", "ClusterRole certs-controller-issuers", "ClusterRoleBinding certs-controller-issuers",
			"Role certs:leaderelection", "RoleBinding certs:leaderelection", "Deployment certs", "ClusterIssuer selfsigned"},
		hooks: []string{"ServiceAccount certs-startupapicheck", "Role certs-startupapicheck:create-cert",
			"RoleBinding certs-startupapicheck:create-cert", "Job certs-startupapicheck"},
	},
	{
		name: "certs without CRDs", chart: "certs",
		objects: []string{"ServiceAccount certs", "ClusterRole certs-controller-issuers", "ClusterRoleBinding certs-controller-issuers",
			"Role certs:leaderelection", "RoleBinding certs:leaderelection", "Deployment certs"},
		hooks: []string{"ServiceAccount certs-startupapicheck", "Role certs-startupapicheck:create-cert",
			"RoleBinding certs-startupapicheck:create-cert", "Job certs-startupapicheck"},
	},
	{
		name: "monitor defaults", chart: "monitor",
		added: []string{"monitoring.example.com/v1", "monitoring.example.com/v1/Rule", "monitoring.example.com/v1/Monitor"},
		objects: []string{"CustomResourceDefinition rules.monitoring.example.com", "CustomResourceDefinition monitors.monitoring.example.com",
			"ConfigMap monitor-prometheus", "ConfigMap monitor-dashboards", "Service monitor-prometheus", "Service monitor-node-exporter",
			"DaemonSet monitor-node-exporter", "Deployment monitor-prometheus", "Rule monitor-general", "Rule monitor-node"},
	},
	{
		name: "monitor with both aliases", chart: "monitor", values: []string{"monitor.yaml"},
		added: []string{"monitoring.example.com/v1", "monitoring.example.com/v1/Rule", "monitoring.example.com/v1/Monitor"},
		objects: []string{"CustomResourceDefinition rules.monitoring.example.com", "CustomResourceDefinition monitors.monitoring.example.com",
			"ConfigMap monitor-prometheus", "ConfigMap monitor-dashboards", "Service monitor-prometheus", "Service monitor-node-exporter",
			"Service monitor-kube-state", "DaemonSet monitor-node-exporter", "Deployment monitor-prometheus", "Deployment monitor-kube-state",
			"Rule monitor-general"},
	},
	{
		name: "db install", chart: "db", values: []string{"db.yaml"},
		objects: []string{"Secret db", "ConfigMap db-configuration", "ConfigMap db-initdb", "Service db", "Service db-hl", "StatefulSet db"},
		hooks:   []string{"Job db-check", "ConfigMap db-upgrade-plan", "Secret db-bootstrap", "Pod db-test-query"},
	},
	{
		name: "db upgrade", chart: "db", values: []string{"db.yaml"}, upgrade: true,
		objects: []string{"Secret db", "ConfigMap db-configuration", "ConfigMap db-initdb", "Service db", "Service db-hl", "StatefulSet db"},
		hooks:   []string{"ConfigMap db-upgrade-plan", "Secret db-bootstrap", "Pod db-test-query"},
	},
	{
		name: "gitops install", chart: "gitops", values: []string{"gitops.yaml"},
		added: []string{"gitops.example.com/v1alpha1", "gitops.example.com/v1alpha1/Application"},
		objects: []string{"CustomResourceDefinition applications.gitops.example.com", "ConfigMap gitops-cm", "ConfigMap gitops-cmd-params-cm",
			"ConfigMap gitops-rbac-cm", "Secret gitops-secret", "Service gitops-server", "Deployment gitops-server", "Ingress gitops-server"},
		hooks: []string{"ServiceAccount gitops-redis-secret-init", "Role gitops-redis-secret-init", "RoleBinding gitops-redis-secret-init",
			"Job gitops-redis-secret-init"},
	},
	{
		name: "gitops upgrade", chart: "gitops", values: []string{"gitops.yaml"}, upgrade: true,
		added: []string{"gitops.example.com/v1alpha1", "gitops.example.com/v1alpha1/Application"},
		objects: []string{"CustomResourceDefinition applications.gitops.example.com", "ConfigMap gitops-cm", "ConfigMap gitops-cmd-params-cm",
			"ConfigMap gitops-rbac-cm", "Secret gitops-secret", "Service gitops-server", "Deployment gitops-server", "Ingress gitops-server"},
		hooks: []string{"ServiceAccount gitops-redis-secret-init", "Role gitops-redis-secret-init", "RoleBinding gitops-redis-secret-init",
			"Job gitops-redis-secret-init"},
	},
	{
		name: "gitops CRD not kept", chart: "gitops", values: []string{"gitops-no-keep.yaml"},
		added: []string{"gitops.example.com/v1alpha1", "gitops.example.com/v1alpha1/Application"},
		objects: []string{"CustomResourceDefinition applications.gitops.example.com", "ConfigMap gitops-cm", "ConfigMap gitops-cmd-params-cm",
			"ConfigMap gitops-rbac-cm", "Secret gitops-secret", "Service gitops-server", "Deployment gitops-server"},
		hooks: []string{"ServiceAccount gitops-redis-secret-init", "Role gitops-redis-secret-init", "RoleBinding gitops-redis-secret-init",
			"Job gitops-redis-secret-init"},
		nullAnnotations: []string{"CustomResourceDefinition applications.gitops.example.com"},
	},
	{
		name: "dns with null pod template annotations", chart: "dns", values: []string{"dns-minimal.yaml"},
		objects: []string{"ServiceAccount dns", "ClusterRole dns", "ClusterRoleBinding dns-viewer", "Service dns", "Deployment dns"},
		hooks:   []string{"Pod dns-test-metrics", "Job dns-test-provider"},
	},
	{
		name: "dns beside a monitoring stack", chart: "dns", values: []string{"dns.yaml"}, crds: "charts/monitor/crds",
		added: []string{"monitoring.example.com/v1", "monitoring.example.com/v1/Rule", "monitoring.example.com/v1/Monitor"},
		objects: []string{"ServiceAccount dns", "Secret dns", "ClusterRole dns", "ClusterRoleBinding dns-viewer", "Service dns",
			"Deployment dns", "Monitor dns"},
		hooks: []string{"Pod dns-test-metrics", "Job dns-test-provider"},
	},
}

// TestPopularChartsRenderAsHelmTemplate renders each case through envctl
// and through Helm's install action in client-only dry-run mode, as `helm
// template` runs it, with the same values, release, namespace and
// capabilities, and asserts the same objects and hooks: envctl's only
// changes are its ownership labels and the release namespace on namespaced
// objects that name none, as `helm install` would place them.
func TestPopularChartsRenderAsHelmTemplate(t *testing.T) {
	for _, tc := range popularCases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := popularRender(t, tc)
			if err != nil {
				t.Fatal(err)
			}
			comp := popularComponent(t, res, tc.chart)
			for _, o := range comp.Objects {
				_, found := o.Object["metadata"].(map[string]any)["annotations"]
				if slices.Contains(tc.nullAnnotations, o.GetKind()+" "+o.GetName()) && found {
					t.Errorf("%s %s: null metadata.annotations kept as %#v, want no field (as the server stores it)",
						o.GetKind(), o.GetName(), o.Object["metadata"].(map[string]any)["annotations"])
				}
			}

			var gotObjects, gotHooks []string
			for _, o := range comp.Objects {
				gotObjects = append(gotObjects, o.GetKind()+" "+o.GetName())
			}
			for _, h := range slices.Concat(comp.Hooks, comp.Tests) {
				gotHooks = append(gotHooks, h.Object.GetKind()+" "+h.Object.GetName())
			}
			if diff := cmp.Diff(sorted(tc.objects), sorted(gotObjects)); diff != "" {
				t.Errorf("objects (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(sorted(tc.hooks), sorted(gotHooks)); diff != "" {
				t.Errorf("hooks and tests (-want +got):\n%s", diff)
			}

			caps := slices.Concat(tc.cluster, tc.added)
			rel := helmTemplate(t, tc, res.Capabilities.KubeVersion, caps)
			wantObjects, wantHooks := helmObjects(t, rel)
			if diff := cmp.Diff(wantObjects, envctlObjects(comp)); diff != "" {
				t.Errorf("objects differ from helm template's (-helm +envctl):\n%s", diff)
			}
			if diff := cmp.Diff(wantHooks, envctlHooks(comp)); diff != "" {
				t.Errorf("hooks differ from helm template's (-helm +envctl):\n%s", diff)
			}
		})
	}
}

// popularRender renders a case through envctl: an environment with the
// chart as a Helm release (and the case's CRDs as a manifests component),
// offline unless the case gives the cluster's API versions.
func popularRender(t *testing.T, tc popularCase) (*Result, error) {
	t.Helper()
	no := false
	var files []string
	for _, v := range tc.values {
		files = append(files, "values/"+v)
	}
	comps := []config.Component{{Name: tc.chart, Helm: &config.HelmRelease{
		Chart: "charts/" + tc.chart, Release: tc.chart, Namespace: popularNamespace,
		ValuesFiles: files, CreateNamespace: &no,
	}}}
	if tc.crds != "" {
		comps = append(comps, config.Component{Name: "crds", Manifests: &config.Manifests{Path: tc.crds}})
	}
	env := newEnv(config.ProviderEmbedded, comps...)
	return renderRepo(t, popularDir, env, func(o *Options) {
		o.Installed = func(string) bool { return tc.upgrade }
		if tc.cluster != nil {
			offline := OfflineCapabilities(env)
			o.Capabilities = &Capabilities{KubeVersion: offline.KubeVersion, APIVersions: tc.cluster, Source: "test"}
		}
	})
}

func popularComponent(t *testing.T, res *Result, name string) *Component {
	t.Helper()
	for _, c := range res.Components {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no component %s in the render", name)
	return nil
}

// helmTemplate renders a case as `helm template RELEASE CHART -n NS -f ...
// --include-crds --kube-version V --api-versions ... [--is-upgrade]` does.
func helmTemplate(t *testing.T, tc popularCase, kubeVersion string, apiVersions []string) *release.Release {
	t.Helper()
	chrt, err := loader.Load(filepath.Join(popularDir, "charts", tc.chart))
	if err != nil {
		t.Fatal(err)
	}
	if err := action.CheckDependencies(chrt, chrt.Metadata.Dependencies); err != nil {
		t.Fatal(err)
	}
	opts := values.Options{}
	for _, v := range tc.values {
		opts.ValueFiles = append(opts.ValueFiles, filepath.Join(popularDir, "values", v))
	}
	vals, err := opts.MergeValues(getter.Providers{})
	if err != nil {
		t.Fatal(err)
	}
	kv, err := chartutil.ParseKubeVersion(kubeVersion)
	if err != nil {
		t.Fatal(err)
	}
	inst := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	inst.DryRun, inst.DryRunOption = true, "true"
	inst.ClientOnly, inst.Replace = true, true
	inst.ReleaseName, inst.Namespace = tc.chart, popularNamespace
	inst.IncludeCRDs = true
	inst.KubeVersion, inst.APIVersions = kv, apiVersions
	inst.IsUpgrade = tc.upgrade
	rel, err := inst.RunWithContext(context.Background(), chrt, vals)
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	return rel
}

// popularHook is what a hook is beside its object, as Helm records it.
type popularHook struct {
	Object   map[string]any
	Events   []string
	Weight   int
	Policies []string
}

// helmObjects decodes Helm's manifest and hooks as kubectl would read
// them, keyed by identity, with the release namespace on namespaced
// objects that name none.
func helmObjects(t *testing.T, rel *release.Release) (objects map[string]map[string]any, hooks map[string]popularHook) {
	t.Helper()
	var objs []*unstructured.Unstructured
	// Split as Helm's install and kubectl read a stream, keeping each
	// document's last newline (releaseutil.SplitManifests trims it).
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(rel.Manifest)))
	for {
		doc, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if o := popularDecode(t, string(doc)); o != nil {
			objs = append(objs, o)
		}
	}
	cluster := clusterScoped(objs)
	objects = map[string]map[string]any{}
	for _, o := range objs {
		popularNormalize(o, cluster)
		key := popularKey(o)
		if _, dup := objects[key]; dup {
			t.Fatalf("helm template emits %s twice", key)
		}
		objects[key] = o.Object
	}
	hooks = map[string]popularHook{}
	for _, h := range rel.Hooks {
		o := popularDecode(t, h.Manifest)
		popularNormalize(o, cluster)
		var events []string
		for _, e := range h.Events {
			events = append(events, string(e))
		}
		var policies []string
		for _, p := range h.DeletePolicies {
			policies = append(policies, string(p))
		}
		if len(policies) == 0 {
			policies = []string{string(release.HookBeforeHookCreation)}
		}
		hooks[popularKey(o)] = popularHook{Object: o.Object, Events: sorted(events), Weight: h.Weight, Policies: sorted(policies)}
	}
	return objects, hooks
}

// envctlObjects are a component's objects keyed by identity, without
// envctl's ownership labels.
func envctlObjects(c *Component) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, o := range c.Objects {
		o = o.DeepCopy()
		popularNormalize(o, nil)
		out[popularKey(o)] = o.Object
	}
	return out
}

func envctlHooks(c *Component) map[string]popularHook {
	out := map[string]popularHook{}
	for _, h := range slices.Concat(c.Hooks, c.Tests) {
		o := h.Object.DeepCopy()
		popularNormalize(o, nil)
		var phases []string
		for _, p := range h.Phases {
			phases = append(phases, string(p))
		}
		out[popularKey(o)] = popularHook{Object: o.Object, Events: sorted(phases), Weight: h.Weight, Policies: sorted(h.DeletePolicies)}
	}
	return out
}

// popularDecode decodes one YAML document the way clients of the API
// server do; nil for an empty document.
func popularDecode(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	j, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		t.Fatalf("helm output: %v", err)
	}
	if s := strings.TrimSpace(string(j)); s == "null" || s == "{}" {
		return nil
	}
	o := &unstructured.Unstructured{}
	if err := o.UnmarshalJSON(j); err != nil {
		t.Fatalf("helm output: %v", err)
	}
	return o
}

// popularClusterKinds are the cluster-scoped kinds these charts use.
var popularClusterKinds = []string{"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "IngressClass", "PriorityClass"}

// clusterScoped lists the cluster-scoped kinds among objs: the built-in
// ones and those of CRDs of scope Cluster.
func clusterScoped(objs []*unstructured.Unstructured) []string {
	out := slices.Clone(popularClusterKinds)
	for _, o := range objs {
		if isCRD(o) {
			if scope, _, _ := unstructured.NestedString(o.Object, "spec", "scope"); scope == "Cluster" {
				kind, _, _ := unstructured.NestedString(o.Object, "spec", "names", "kind")
				out = append(out, kind)
			}
		}
	}
	return out
}

// popularNormalize removes envctl's ownership labels, and metadata maps
// that are empty or null (the API server stores none of them). With
// cluster set, it gives namespaced objects without a namespace the release
// namespace, as an install places them.
func popularNormalize(o *unstructured.Unstructured, cluster []string) {
	md, _ := o.Object["metadata"].(map[string]any)
	if labels, ok := md["labels"].(map[string]any); ok {
		for _, k := range []string{ownership.LabelManagedBy, ownership.LabelEnvironment, ownership.LabelComponent} {
			delete(labels, k)
		}
	}
	for _, k := range []string{"labels", "annotations"} {
		if m, ok := md[k].(map[string]any); md[k] == nil || ok && len(m) == 0 {
			delete(md, k)
		}
	}
	if cluster != nil && o.GetNamespace() == "" && !slices.Contains(cluster, o.GetKind()) {
		o.SetNamespace(popularNamespace)
	}
}

func popularKey(o *unstructured.Unstructured) string {
	return fmt.Sprintf("%s %s %s/%s", o.GetAPIVersion(), o.GetKind(), o.GetNamespace(), o.GetName())
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestPopularChartsRenderValues checks what the charts' shapes must
// produce, beyond agreeing with Helm: so that a chart that stopped
// rendering something would not pass because both renderers lost it.
func TestPopularChartsRenderValues(t *testing.T) {
	render := func(name string) *Component {
		t.Helper()
		i := slices.IndexFunc(popularCases, func(c popularCase) bool { return c.name == name })
		tc := popularCases[i]
		res, err := popularRender(t, tc)
		if err != nil {
			t.Fatal(err)
		}
		return popularComponent(t, res, tc.chart)
	}
	get := func(c *Component, kind, name string) *unstructured.Unstructured {
		t.Helper()
		for _, o := range slices.Concat(c.Objects, hookObjects(c.Hooks), hookObjects(c.Tests)) {
			if o.GetKind() == kind && o.GetName() == name {
				return o
			}
		}
		t.Fatalf("%s renders no %s %s", c.Name, kind, name)
		return nil
	}
	str := func(o *unstructured.Unstructured, path ...string) string {
		t.Helper()
		v, found, err := unstructured.NestedFieldNoCopy(o.Object, path...)
		if !found || err != nil {
			t.Errorf("%s %s has no %s", o.GetKind(), o.GetName(), strings.Join(path, "."))
		}
		return fmt.Sprint(v)
	}

	edge := render("edge on a cluster")
	cm := get(edge, "ConfigMap", "edge-controller")
	if got := str(cm, "data", "proxy-set-headers"); got != popularNamespace+"/custom-headers" {
		t.Errorf("tpl of a values string: proxy-set-headers = %q", got)
	}
	dep := get(edge, "Deployment", "edge-controller")
	pod := []string{"spec", "template", "spec"}
	if got := str(dep, append(pod, "tolerations")...); got != "[]" {
		t.Errorf("toYaml of an empty list: tolerations = %s, want []", got)
	}
	ctr, _, _ := unstructured.NestedSlice(dep.Object, append(pod, "containers")...)
	if res := ctr[0].(map[string]any)["resources"]; !cmp.Equal(res, map[string]any{}) {
		t.Errorf("toYaml of an empty map: resources = %#v, want {}", res)
	}
	if got := str(get(edge, "PodDisruptionBudget", "edge-controller"), "apiVersion"); got != "policy/v1" {
		t.Errorf("PodDisruptionBudget apiVersion = %s on a cluster serving policy/v1", got)
	}
	if got := str(get(render("edge offline"), "PodDisruptionBudget", "edge-controller"), "apiVersion"); got != "policy/v1beta1" {
		t.Errorf("offline PodDisruptionBudget apiVersion = %s, want helm template's policy/v1beta1", got)
	}

	certs := render("certs with templated CRDs")
	crd := get(certs, "CustomResourceDefinition", "issuers.certs.example.com")
	if got := crd.GetAnnotations()["helm.sh/resource-policy"]; got != "keep" {
		t.Errorf("CRD resource policy = %q, want keep", got)
	}
	if got := get(certs, "Role", "certs:leaderelection").GetNamespace(); got != "kube-system" {
		t.Errorf("leader election Role namespace = %q, want the global value kube-system", got)
	}
	if got := get(certs, "ClusterIssuer", "selfsigned").GetNamespace(); got != "" {
		t.Errorf("ClusterIssuer (cluster-scoped by its CRD) got namespace %q", got)
	}

	mon := render("monitor with both aliases")
	if got := str(get(mon, "Deployment", "monitor-kube-state"), "spec", "template", "spec", "containers"); !strings.Contains(got, "registry.example.com/monitor/exporter:1.8.0") || !strings.Contains(got, "--resources=deployments,pods") {
		t.Errorf("aliased subchart: global.imageRegistry and its own values not applied: %s", got)
	}
	dash := get(mon, "ConfigMap", "monitor-dashboards")
	if got := strings.Join(slices.Sorted(maps.Keys(dash.Object["data"].(map[string]any))), ","); got != "nodes.json,workloads.json" {
		t.Errorf(".Files.Glob: dashboards = %s", got)
	}
	for _, o := range mon.Objects {
		if strings.Contains(o.GetName(), "draft") {
			t.Errorf(".helmignore: %s %s rendered from an ignored file", o.GetKind(), o.GetName())
		}
	}
	if got := str(get(mon, "Rule", "monitor-general"), "spec", "groups"); !strings.Contains(got, "namespace:"+popularNamespace) {
		t.Errorf("tpl of a .Files.Get: %s", got)
	}

	db := render("db install")
	sec := get(db, "Secret", "db")
	if got := str(sec, "data", "password"); got != "ZnJvbS12YWx1ZXM=" {
		t.Errorf("b64enc: password = %s, want base64 of from-values (lookup finds nothing offline)", got)
	}
	if got := sec.GetLabels()["team"]; got != "db-owners" {
		t.Errorf("templated commonLabels: team = %q", got)
	}
	sts := get(db, "StatefulSet", "db")
	if got := sts.Object["spec"].(map[string]any)["template"].(map[string]any)["metadata"].(map[string]any)["annotations"].(map[string]any)["checksum/secret"]; got == nil || len(got.(string)) != 64 {
		t.Errorf("checksum/secret = %v", got)
	}
	if got := str(get(db, "ConfigMap", "db-configuration"), "data", "override.conf"); !strings.Contains(got, "cluster_name = '"+popularNamespace+"'") {
		t.Errorf("tplvalues: override.conf = %q", got)
	}
	if got := str(get(db, "ConfigMap", "db-initdb"), "data"); !strings.Contains(got, "01-schema.sql") || !strings.Contains(got, "02-seed.sql") {
		t.Errorf(".Files.Glob AsConfig: %s", got)
	}
	// Hooks are listed as Helm runs them: weight, then name, then kind.
	var order []string
	for _, h := range db.Hooks {
		order = append(order, h.Object.GetKind()+" "+h.Object.GetName())
	}
	if diff := cmp.Diff([]string{"Job db-check", "ConfigMap db-upgrade-plan", "Secret db-bootstrap"}, order); diff != "" {
		t.Errorf("db hooks (-want +got):\n%s", diff)
	}
	if got := str(get(render("db upgrade"), "ConfigMap", "db-upgrade-plan"), "data", "from"); got != "the running release" {
		t.Errorf("IsUpgrade: from = %q", got)
	}

	gitops := render("gitops install")
	if got := str(get(gitops, "ConfigMap", "gitops-cm"), "data", "url"); got != "https://gitops.ci.example.com" {
		t.Errorf("tpl of a values string: url = %q", got)
	}
	if got := str(get(gitops, "ConfigMap", "gitops-cmd-params-cm"), "data", "controller.status.processors"); got != "20" {
		t.Errorf("numbers quoted: %q", got)
	}
	ing := get(gitops, "Ingress", "gitops-server")
	if got := ing.GetAnnotations()["example.com/backend"]; got != "gitops-server" {
		t.Errorf("templated annotation = %q", got)
	}
	if got := ing.GetAPIVersion(); got != "networking.k8s.io/v1" {
		t.Errorf("semverCompare on .Capabilities.KubeVersion: Ingress apiVersion %s", got)
	}

	dns := render("dns beside a monitoring stack")
	if got := str(get(dns, "Deployment", "dns"), "spec", "template", "spec", "containers"); !strings.Contains(got, "--provider=cloudflare") || !strings.Contains(got, "mountPath:/etc/dns") {
		t.Errorf("tpl of values: %s", got)
	}
	if got := str(get(dns, "Secret", "dns"), "data", "token"); got != "dG9rZW4tZm9yLWFwcHM=" {
		t.Errorf("b64enc of a tpl: token = %s", got)
	}
	if got := str(get(dns, "Deployment", "dns"), "spec", "template", "spec", "securityContext", "seccompProfile", "type"); got != "RuntimeDefault" {
		t.Errorf("seccompProfile = %s", got)
	}
}

func hookObjects(hooks []*Hook) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, h := range hooks {
		out = append(out, h.Object)
	}
	return out
}

// TestPopularChartErrors: a chart that stops the render (required, fail,
// kubeVersion) is a bad-input error naming the chart and what to set.
func TestPopularChartErrors(t *testing.T) {
	tests := []struct {
		name        string
		chart       string
		values      []string
		kubeVersion string
		want        []string
	}{
		{name: "required value missing", chart: "db",
			want: []string{"charts/db", "db/templates/", "auth.password is required"}},
		{name: "required provider missing", chart: "dns",
			want: []string{"charts/dns", "provider.name is required"}},
		{name: "fail on contradicting values", chart: "certs", values: []string{"certs-both.yaml"},
			want: []string{"charts/certs", "installCRDs and crds.enabled say the same thing"}},
		{name: "fail on a missing domain", chart: "gitops", values: []string{"gitops-no-domain.yaml"},
			want: []string{"charts/gitops", "server.ingress.enabled needs global.domain"}},
		{name: "kubeVersion constraint", chart: "edge", values: []string{"edge.yaml"}, kubeVersion: "v1.24.9",
			want: []string{"charts/edge", "1.24.9", ">=1.25.0-0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var files []string
			for _, v := range tt.values {
				files = append(files, "values/"+v)
			}
			env := newEnv(config.ProviderEmbedded, config.Component{Name: tt.chart, Helm: &config.HelmRelease{
				Chart: "charts/" + tt.chart, Release: tt.chart, Namespace: popularNamespace, ValuesFiles: files,
			}})
			_, err := renderRepo(t, popularDir, env, func(o *Options) { o.Settings.KubeVersion = tt.kubeVersion })
			if err == nil || errs.KindOf(err) != errs.KindInput {
				t.Fatalf("err = %v, want bad input", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
		})
	}
}
