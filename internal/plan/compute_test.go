package plan_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/kube"
	"github.com/envctl/envctl/internal/object"
	"github.com/envctl/envctl/internal/plan"
	"github.com/envctl/envctl/internal/render"
	"github.com/envctl/envctl/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

func obj(t *testing.T, format string, args ...any) *unstructured.Unstructured {
	t.Helper()
	m := map[string]any{}
	if err := yaml.Unmarshal(fmt.Appendf(nil, format, args...), &m); err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: m}
}

const labels = `
  labels:
    envctl.dev/managed-by: envctl
    envctl.dev/environment: %s
    envctl.dev/component: app`

func configMap(t *testing.T, env, ns, name, value string) *unstructured.Unstructured {
	return obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  namespace: %s"+labels+"\ndata:\n  value: %q\n", name, ns, env, value)
}

func secret(t *testing.T, env, ns, name, password string) *unstructured.Unstructured {
	return obj(t, "apiVersion: v1\nkind: Secret\nmetadata:\n  name: %s\n  namespace: %s"+labels+"\ntype: Opaque\ndata:\n  password: %s\n  user: %s\n",
		name, ns, env, base64.StdEncoding.EncodeToString([]byte(password)), base64.StdEncoding.EncodeToString([]byte("admin")))
}

// applied applies objs as envctl would and returns their inventory entries.
func applied(t *testing.T, client *kube.Client, objs ...*unstructured.Unstructured) []inventory.Entry {
	t.Helper()
	var out []inventory.Entry
	for _, o := range objs {
		mapping, err := client.Mapper.Mapping(context.Background(), o.GroupVersionKind())
		if err != nil {
			t.Fatal(err)
		}
		digest, err := kube.Digest(o)
		if err != nil {
			t.Fatal(err)
		}
		live, _, err := client.Apply(context.Background(), mapping, kube.WithDigest(o, digest), kube.ApplyOptions{FieldManager: "envctl"})
		if err != nil {
			t.Fatalf("apply %s: %v", kube.Describe(o), err)
		}
		out = append(out, inventory.Entry{Ref: object.RefOf(o), Component: "app", Digest: digest, Fields: kube.FieldsHash(live, "envctl")})
	}
	return out
}

func byName(p *plan.Plan) map[string]plan.Item {
	m := map[string]plan.Item{}
	for _, it := range p.Items {
		m[it.Ref.Kind+"/"+it.Ref.Name] = it
	}
	return m
}

func TestComputePlan(t *testing.T) {
	te := testenv.Get(t)
	cfg, counter := kube.CountingConfig(te.RESTConfig())
	client, err := kube.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ns := te.Namespace(t)
	const env = "plan-basic"
	const oldPassword, newPassword = "canary-old-7f3a91", "canary-new-c02e55"

	prev := &inventory.Inventory{Environment: env, Components: []string{"app"}}
	prev.Entries = append(prev.Entries, applied(t, client,
		configMap(t, env, ns, "changed", "1"),
		configMap(t, env, ns, "same", "x"),
		configMap(t, env, ns, "gone-from-render", "x"),
		secret(t, env, ns, "db", oldPassword),
	)...)
	// Applied, but not recorded: its unchanged state is found by a dry-run.
	applied(t, client, configMap(t, env, ns, "unrecorded", "x"))

	rendered := &render.Result{Environment: env, Components: []*render.Component{{
		Name: "app",
		Objects: []*unstructured.Unstructured{
			configMap(t, env, ns, "changed", "2"),
			configMap(t, env, ns, "same", "x"),
			configMap(t, env, ns, "unrecorded", "x"),
			configMap(t, env, ns, "new", "x"),
			secret(t, env, ns, "db", newPassword),
		},
	}}}

	before := counter.Snapshot()
	p, err := plan.Compute(t.Context(), client, writerWithKey(client, nil), rendered, plan.Options{Environment: env, Previous: prev})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]plan.Action{}
	for k, it := range byName(p) {
		got[k] = it.Action
	}
	want := map[string]plan.Action{
		"ConfigMap/changed":          plan.Change,
		"ConfigMap/same":             plan.Unchanged,
		"ConfigMap/unrecorded":       plan.Unchanged,
		"ConfigMap/new":              plan.Create,
		"Secret/db":                  plan.Change,
		"ConfigMap/gone-from-render": plan.Prune,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("actions (-want +got):\n%s", diff)
	}
	if !p.HasChanges() {
		t.Error("HasChanges = false")
	}

	items := byName(p)
	if d := items["ConfigMap/changed"].Diff; !strings.Contains(d, "-  value: \"1\"\n+  value: \"2\"\n") {
		t.Errorf("diff of the changed ConfigMap:\n%s", d)
	}
	for _, noise := range []string{"managedFields", "resourceVersion", "uid:", "creationTimestamp", "envctl.dev/digest"} {
		if strings.Contains(items["ConfigMap/changed"].Diff, noise) {
			t.Errorf("diff shows %s:\n%s", noise, items["ConfigMap/changed"].Diff)
		}
	}
	sd := items["Secret/db"].Diff
	if !strings.Contains(sd, "+  password: "+plan.SensitiveValueChanged) || strings.Contains(sd, "user: "+plan.SensitiveValueChanged) {
		t.Errorf("Secret diff does not mark exactly the changed key:\n%s", sd)
	}
	all, _ := json.Marshal(p)
	for _, v := range []string{oldPassword, newPassword, "admin"} {
		for _, enc := range []string{v, base64.StdEncoding.EncodeToString([]byte(v))} {
			if strings.Contains(string(all), enc) {
				t.Fatalf("the plan shows a Secret value (%q)", enc)
			}
		}
	}

	// The plan changed nothing: the only writes are dry-runs, and none for
	// the object whose digest and owned fields match the inventory.
	d := counter.Snapshot().Sub(before)
	for _, w := range d.WritePaths {
		if !strings.HasPrefix(w, "PATCH ") {
			t.Errorf("plan made a write that is not a dry-run apply: %s", w)
		}
		if strings.HasSuffix(w, "/configmaps/same") {
			t.Errorf("unchanged object was dry-run: %s", w)
		}
	}
	cs := te.Clientset()
	if cm, err := cs.CoreV1().ConfigMaps(ns).Get(t.Context(), "changed", metav1.GetOptions{}); err != nil || cm.Data["value"] != "1" {
		t.Errorf("the plan changed the live ConfigMap: %v %v", cm.Data, err)
	}
	if _, err := cs.CoreV1().ConfigMaps(ns).Get(t.Context(), "new", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the plan created an object: %v", err)
	}
	if _, err := cs.CoreV1().ConfigMaps(ns).Get(t.Context(), "gone-from-render", metav1.GetOptions{}); err != nil {
		t.Errorf("the plan pruned an object: %v", err)
	}

	// Rendered as applied: nothing to do.
	same := &render.Result{Environment: env, Components: []*render.Component{{Name: "app", Objects: []*unstructured.Unstructured{
		configMap(t, env, ns, "same", "x"),
	}}}}
	sameEntry, ok := prev.Lookup(items["ConfigMap/same"].Ref.Key())
	if !ok {
		t.Fatal("no inventory entry for ConfigMap same")
	}
	scoped := &inventory.Inventory{Environment: env, Components: []string{"app"}, Entries: []inventory.Entry{sameEntry}}
	before = counter.Snapshot()
	p, err = plan.Compute(t.Context(), client, writerWithKey(client, nil), same, plan.Options{Environment: env, Previous: scoped})
	if err != nil {
		t.Fatal(err)
	}
	if p.HasChanges() || p.Count(plan.Unchanged) != 1 {
		t.Errorf("plan of the applied state: %+v", p.Items)
	}
	// Nothing to do costs no write, not even a dry-run, and one LIST.
	if d := counter.Snapshot().Sub(before); d.Writes != 0 || d.Requests != 1 {
		t.Errorf("plan of the applied state made %d requests, %d writes %v; want 1 LIST and no write", d.Requests, d.Writes, d.WritePaths)
	}
}

func TestComputeObjectsNotYetServable(t *testing.T) {
	te := testenv.Get(t)
	client, err := kube.New(te.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	ns := te.Namespace(t)
	const env = "plan-later"
	newNS := ns + "-new"
	crd := obj(t, `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.plan.envctl.dev
spec:
  group: plan.envctl.dev
  names: {kind: Gadget, plural: gadgets, singular: gadget, listKind: GadgetList}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
`)
	rendered := &render.Result{Environment: env, Components: []*render.Component{{Name: "app", Objects: []*unstructured.Unstructured{
		crd,
		obj(t, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n", newNS),
		obj(t, "apiVersion: plan.envctl.dev/v1\nkind: Gadget\nmetadata:\n  name: g\n  namespace: %s\nspec:\n  size: 3\n", ns),
		configMap(t, env, newNS, "in-new-namespace", "x"),
		obj(t, "apiVersion: nowhere.envctl.dev/v1\nkind: Phantom\nmetadata:\n  name: p\n  namespace: %s\n", ns),
		obj(t, "apiVersion: v1\nkind: Service\nmetadata:\n  name: bad\n  namespace: %s\nspec:\n  ports: []\n  type: NoSuchType\n", ns),
	}}}}
	p, err := plan.Compute(t.Context(), client, writerWithKey(client, nil), rendered, plan.Options{Environment: env})
	items := byName(p)
	for _, k := range []string{"CustomResourceDefinition/gadgets.plan.envctl.dev", "Namespace/" + newNS, "Gadget/g", "ConfigMap/in-new-namespace"} {
		if items[k].Action != plan.Create {
			t.Errorf("%s: %s (%s), want create", k, items[k].Action, items[k].Error)
		}
	}
	if n := items["Gadget/g"].Note; !strings.Contains(n, "CustomResourceDefinition gadgets.plan.envctl.dev") {
		t.Errorf("note for the custom resource: %q", n)
	}
	if n := items["ConfigMap/in-new-namespace"].Note; !strings.Contains(n, "Namespace "+newNS) {
		t.Errorf("note for the object in a new namespace: %q", n)
	}
	if items["Phantom/p"].Action != plan.Error || !strings.Contains(items["Phantom/p"].Error, "Phantom") {
		t.Errorf("unknown kind: %+v", items["Phantom/p"])
	}
	if items["Service/bad"].Action != plan.Error || !strings.Contains(items["Service/bad"].Error, "Service "+ns+"/bad") {
		t.Errorf("invalid object: %+v", items["Service/bad"])
	}
	if errs.KindOf(err) != errs.KindInput {
		t.Errorf("plan error kind %v (%v), want input", errs.KindOf(err), err)
	}
	// Nothing was created.
	if _, err := te.Clientset().CoreV1().Namespaces().Get(t.Context(), newNS, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("namespace %s exists after a plan: %v", newNS, err)
	}
}
