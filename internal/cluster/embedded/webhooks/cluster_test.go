package webhooks_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/envctl/envctl/internal/cli"
	"github.com/envctl/envctl/internal/cluster/embedded/webhooks"
	"github.com/envctl/envctl/internal/testenv"
)

// The tests of this package create webhook configurations and CRDs with
// conversion webhooks: an API server that called them would dial Service
// ClusterIPs. They run in a network namespace with only loopback, with a
// cluster of their own.
func TestMain(m *testing.M) { os.Exit(testenv.RunIsolated(m)) }

// runBound is how long an envctl run that meets a webhook may take here: a
// webhook the API server really tried to reach would hold each request for
// its timeoutSeconds (30 in these manifests).
const runBound = 20 * time.Second

// repo is a repository with one environment, named after the test's
// namespace, whose single component applies overlays/app to the package's
// cluster.
type repo struct {
	t    *testing.T
	dir  string
	ns   string
	kube string
}

func newRepo(t *testing.T) *repo {
	t.Helper()
	te := testenv.Get(t)
	r := &repo{t: t, dir: t.TempDir(), ns: te.Namespace(t), kube: te.Kubeconfig(t)}
	r.write("config.yaml", "apiVersion: envctl.dev/v1alpha1\nkind: Config\nmetadata: {name: hooks}\nspec:\n  defaultEnvironment: "+r.ns+"\n  apply: {timeout: 60s}\n")
	r.write("environments/"+r.ns+".yaml", `apiVersion: envctl.dev/v1alpha1
kind: Environment
metadata: {name: `+r.ns+`}
spec:
  cluster:
    provider: existing
    name: hooks
    existing: {kubeconfig: `+r.kube+`}
  components:
    - name: app
      kustomize: overlays/app
`)
	return r
}

func (r *repo) write(rel, content string) {
	r.t.Helper()
	p := filepath.Join(r.dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

// overlay writes overlays/app with docs (NS stands for the test's
// namespace), each a resource file of its own.
func (r *repo) overlay(docs ...string) {
	r.t.Helper()
	var list strings.Builder
	for i, d := range docs {
		name := fmt.Sprintf("r%d.yaml", i)
		r.write("overlays/app/"+name, strings.ReplaceAll(d, "NS", r.ns))
		fmt.Fprintf(&list, "  - %s\n", name)
	}
	r.write("overlays/app/kustomization.yaml", "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n"+list.String())
}

// envctl runs envctl in-process and returns its output, exit code and
// duration.
func (r *repo) envctl(args ...string) (stdout, stderr string, code int, took time.Duration) {
	r.t.Helper()
	full := append([]string{"--repo", r.dir}, args...)
	if args[0] == "diff" {
		full = append(full, "--kubeconfig", r.kube)
	}
	var out, errOut bytes.Buffer
	began := time.Now()
	code = cli.Main(full, cli.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	took = time.Since(began)
	r.t.Logf("envctl %s: exit %d in %s\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, took, out.String(), errOut.String())
	return out.String(), errOut.String(), code, took
}

// summary is the part of `envctl up -o json` these tests read.
type summary struct {
	Succeeded bool     `json:"succeeded"`
	Warnings  []string `json:"warnings"`
	Requests  struct {
		Writes int `json:"writes"`
	} `json:"requests"`
}

func (r *repo) up() (summary, string, int, time.Duration) {
	r.t.Helper()
	stdout, stderr, code, took := r.envctl("up", "-o", "json")
	var s summary
	if err := json.Unmarshal([]byte(stdout), &s); err != nil {
		r.t.Fatalf("envctl up -o json printed no summary: %v", err)
	}
	return s, stdout + stderr, code, took
}

func configMap(name string) string {
	return `{apiVersion: v1, kind: ConfigMap, metadata: {name: ` + name + `, namespace: NS}, data: {k: v}}`
}

// denyConfigMaps is a validating webhook, served by Service NS/hook,
// that every ConfigMap created in NS must pass, failing closed.
const denyConfigMaps = `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: deny-NS}
webhooks:
  - name: deny.envctl.dev
    failurePolicy: Fail
    timeoutSeconds: 30
    sideEffects: None
    admissionReviewVersions: [v1]
    clientConfig:
      service: {namespace: NS, name: hook, path: /validate}
    namespaceSelector:
      matchLabels: {kubernetes.io/metadata.name: NS}
    rules:
      - {apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [configmaps]}
`

const hookService = `{apiVersion: v1, kind: Service, metadata: {name: hook, namespace: NS}, spec: {selector: {app: hook}, ports: [{port: 443, targetPort: 8443}]}}`

func TestValidatingWebhookSkipThenFail(t *testing.T) {
	r := newRepo(t)
	cp := testenv.Get(t).ControlPlane()
	t.Cleanup(func() { _ = cp.SetWebhookPolicy(webhooks.Skip) })
	if got := cp.WebhookPolicy(); got != webhooks.Skip {
		t.Fatalf("default webhook policy = %q, want skip", got)
	}
	want := fmt.Sprintf(`ValidatingWebhookConfiguration deny-%s, webhook "deny.envctl.dev" calls Service %s/hook:443; pods do not run on the embedded cluster, so the API server skips it (embedded.webhooks: skip)`, r.ns, r.ns)

	// The webhook configuration is applied after the ConfigMap (webhooks
	// come last), so the second run is the one whose ConfigMap meets it.
	r.overlay(hookService, denyConfigMaps, configMap("first"))
	s, out, code, _ := r.up()
	if code != 0 || !s.Succeeded {
		t.Fatalf("first up: exit %d\n%s", code, out)
	}
	if len(s.Warnings) != 1 || s.Warnings[0] != want {
		t.Errorf("first up: warnings %q, want exactly\n%q", s.Warnings, want)
	}

	r.overlay(hookService, denyConfigMaps, configMap("first"), configMap("second"))
	s, out, code, took := r.up()
	if code != 0 || !s.Succeeded {
		t.Fatalf("up under skip: exit %d\n%s", code, out)
	}
	if took > runBound {
		t.Errorf("up under skip took %s, want under %s", took, runBound)
	}
	if len(s.Warnings) != 1 || s.Warnings[0] != want {
		t.Errorf("up under skip: warnings %q, want exactly\n%q", s.Warnings, want)
	}
	if _, err := testenv.Get(t).Clientset().CoreV1().ConfigMaps(r.ns).Get(context.Background(), "second", metav1.GetOptions{}); err != nil {
		t.Errorf("ConfigMap second was not created under skip: %v", err)
	}
	stdout, _, code, _ := r.envctl("up")
	if code != 0 || strings.Count(stdout, "warning: ") != 1 || !strings.Contains(stdout, "warning: "+want) {
		t.Errorf("text summary: exit %d, want the warning once:\n%s", code, stdout)
	}

	if err := cp.SetWebhookPolicy(webhooks.Fail); err != nil {
		t.Fatal(err)
	}
	r.overlay(hookService, denyConfigMaps, configMap("first"), configMap("second"), configMap("third"))
	s, out, code, took = r.up()
	if code == 0 || s.Succeeded {
		t.Fatalf("up under fail succeeded; the webhook fails closed:\n%s", out)
	}
	if took > runBound {
		t.Errorf("up under fail took %s, want under %s", took, runBound)
	}
	for _, w := range []string{"ValidatingWebhookConfiguration deny-" + r.ns, `webhook "deny.envctl.dev"`, "Service " + r.ns + "/hook:443", "pods do not run on the embedded cluster", "embedded.webhooks: fail"} {
		if !strings.Contains(out, w) {
			t.Errorf("up under fail does not say %q:\n%s", w, out)
		}
	}
	if len(s.Warnings) != 0 {
		t.Errorf("up under fail warns of skipped webhooks: %q", s.Warnings)
	}
}

// A webhook configuration whose caBundle a CA injector writes and an
// aggregated ClusterRole: the second up writes nothing, and diff says which
// fields it leaves to whom.
func TestControllerOwnedFieldsAreLeftAlone(t *testing.T) {
	r := newRepo(t)
	te := testenv.Get(t)
	role := "agg-" + r.ns
	t.Cleanup(func() {
		for _, n := range []string{role, role + "-part"} {
			_ = te.Clientset().RbacV1().ClusterRoles().Delete(context.Background(), n, metav1.DeleteOptions{})
		}
	})
	r.overlay(hookService, `apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: inject-NS
  annotations: {cert-manager.io/inject-ca-from: NS/hook-cert}
webhooks:
  - name: inject.envctl.dev
    failurePolicy: Ignore
    sideEffects: None
    admissionReviewVersions: [v1]
    clientConfig:
      caBundle: Cg==
      service: {namespace: NS, name: hook}
    namespaceSelector:
      matchLabels: {kubernetes.io/metadata.name: NS}
    rules:
      - {apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [secrets]}
`, `{apiVersion: rbac.authorization.k8s.io/v1, kind: ClusterRole, metadata: {name: agg-NS},
  aggregationRule: {clusterRoleSelectors: [{matchLabels: {envctl.dev/aggregate-to-NS: "true"}}]}, rules: []}`,
		`{apiVersion: rbac.authorization.k8s.io/v1, kind: ClusterRole, metadata: {name: agg-NS-part, labels: {envctl.dev/aggregate-to-NS: "true"}},
  rules: [{apiGroups: [""], resources: [configmaps], verbs: [get]}]}`)
	if s, out, code, _ := r.up(); code != 0 || !s.Succeeded {
		t.Fatalf("first up: exit %d\n%s", code, out)
	}

	// What cert-manager's cainjector does once its certificate is ready.
	mwc := schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "mutatingwebhookconfigurations"}
	live, err := te.Dynamic().Resource(mwc).Get(context.Background(), "inject-"+r.ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hooks, _, _ := unstructured.NestedSlice(live.Object, "webhooks")
	hooks[0].(map[string]any)["clientConfig"].(map[string]any)["caBundle"] = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg=="
	_ = unstructured.SetNestedSlice(live.Object, hooks, "webhooks")
	if _, err := te.Dynamic().Resource(mwc).Update(context.Background(), live, metav1.UpdateOptions{FieldManager: "cainjector"}); err != nil {
		t.Fatal(err)
	}
	// And the aggregation controller, which fills .rules (from nothing).
	waitFor(t, func() bool {
		cr, err := te.Clientset().RbacV1().ClusterRoles().Get(context.Background(), role, metav1.GetOptions{})
		return err == nil && hasManager(cr.ManagedFields, "clusterrole-aggregation-controller")
	})

	s, out, code, _ := r.up()
	if code != 0 || !s.Succeeded {
		t.Fatalf("second up: exit %d\n%s", code, out)
	}
	if s.Requests.Writes != 0 {
		t.Errorf("second up made %d writes, want 0", s.Requests.Writes)
	}
	after, err := te.Dynamic().Resource(mwc).Get(context.Background(), "inject-"+r.ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ca, _, _ := unstructured.NestedSlice(after.Object, "webhooks"); ca[0].(map[string]any)["clientConfig"].(map[string]any)["caBundle"] != "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==" {
		t.Errorf("the injected caBundle was not kept: %v", ca[0])
	}

	stdout, _, code, _ := r.envctl("diff")
	if code != 0 {
		t.Errorf("diff after two ups: exit %d, want 0 (no changes)", code)
	}
	for _, w := range []string{
		`= unchanged MutatingWebhookConfiguration.admissionregistration.k8s.io inject-` + r.ns,
		`note: not applied, owned by a controller: .webhooks[name="inject.envctl.dev"].clientConfig.caBundle (the CA injector (cert-manager.io/inject-ca-from))`,
		`= unchanged ClusterRole.rbac.authorization.k8s.io ` + role + " ",
		`note: not applied, owned by a controller: .rules (clusterrole-aggregation-controller)`,
	} {
		if !strings.Contains(stdout, w) {
			t.Errorf("diff does not say %q:\n%s", w, stdout)
		}
	}
}

func hasManager(fields []metav1.ManagedFieldsEntry, manager string) bool {
	for _, f := range fields {
		if f.Manager == manager {
			return true
		}
	}
	return false
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 30s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

const widgetCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.GROUP}
spec:
  group: GROUP
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  conversion:
    strategy: Webhook
    webhook:
      conversionReviewVersions: [v1]
      clientConfig:
        service: {namespace: default, name: convert, path: /convert}
  versions:
    - name: v1
      served: true
      storage: true
      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
    - name: v2
      served: true
      storage: false
      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
`

func TestConversionWebhookSkipThenFail(t *testing.T) {
	te := testenv.Get(t)
	ns := te.Namespace(t)
	group := ns + ".envctl.dev"
	crds := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	crd := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(strings.ReplaceAll(widgetCRD, "GROUP", group)), &crd.Object); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := te.Dynamic().Resource(crds).Create(ctx, crd, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = te.Dynamic().Resource(crds).Delete(context.Background(), crd.GetName(), metav1.DeleteOptions{})
	})
	cp := te.ControlPlane()
	t.Cleanup(func() { _ = cp.SetWebhookPolicy(webhooks.Skip) })

	v1 := schema.GroupVersionResource{Group: group, Version: "v1", Resource: "widgets"}
	v2 := schema.GroupVersionResource{Group: group, Version: "v2", Resource: "widgets"}
	w := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": group + "/v1", "kind": "Widget",
		"metadata": map[string]any{"name": "w"}, "spec": map[string]any{"size": int64(3)},
	}}
	waitFor(t, func() bool {
		_, err := te.Dynamic().Resource(v1).Namespace(ns).Create(ctx, w, metav1.CreateOptions{})
		return err == nil
	})

	began := time.Now()
	got, err := te.Dynamic().Resource(v2).Namespace(ns).Get(ctx, "w", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("read at v2 under skip: %v", err)
	}
	if got.GetAPIVersion() != group+"/v2" {
		t.Errorf("read at v2 under skip: apiVersion %s", got.GetAPIVersion())
	}
	if size, _, _ := unstructured.NestedInt64(got.Object, "spec", "size"); size != 3 {
		t.Errorf("read at v2 under skip: spec.size = %d, want 3 (converted as with strategy None)", size)
	}

	if err := cp.SetWebhookPolicy(webhooks.Fail); err != nil {
		t.Fatal(err)
	}
	_, err = te.Dynamic().Resource(v2).Namespace(ns).Get(ctx, "w", metav1.GetOptions{})
	if err == nil {
		t.Fatal("read at v2 under fail succeeded")
	}
	for _, want := range []string{"conversion webhook of custom resource kind Widget." + group, "Service default/convert:443", "pods do not run on the embedded cluster"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("read at v2 under fail: error does not say %q: %v", want, err)
		}
	}
	if took := time.Since(began); took > runBound {
		t.Errorf("two reads took %s, want under %s", took, runBound)
	}
}
