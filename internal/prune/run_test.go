package prune_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/kube"
	"github.com/envctl/envctl/internal/object"
	"github.com/envctl/envctl/internal/prune"
	"github.com/envctl/envctl/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

// fixture is one test's cluster objects and the inventory that lists them.
type fixture struct {
	t      *testing.T
	client *kube.Client
	env    string
	ns     string
	inv    *inventory.Inventory
}

func newFixture(t *testing.T, env string) *fixture {
	t.Helper()
	te := testenv.Get(t)
	client, err := kube.New(te.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, client: client, env: env, ns: te.Namespace(t), inv: &inventory.Inventory{Environment: env, Components: []string{"app"}}}
}

// labels are the ownership labels of env.
func labels(env string) map[string]any {
	return map[string]any{
		"envctl.dev/managed-by":  "envctl",
		"envctl.dev/environment": env,
		"envctl.dev/component":   "app",
	}
}

// add creates obj in the cluster and lists it in the inventory.
func (f *fixture) add(obj *unstructured.Unstructured) inventory.Entry {
	f.t.Helper()
	ctx := context.Background()
	mapping, err := f.client.Mapper.Mapping(ctx, obj.GroupVersionKind())
	if err != nil {
		f.t.Fatal(err)
	}
	if _, _, err := f.client.Apply(ctx, mapping, obj, kube.ApplyOptions{FieldManager: "envctl"}); err != nil {
		f.t.Fatalf("apply %s: %v", kube.Describe(obj), err)
	}
	e := inventory.Entry{Ref: object.RefOf(obj), Component: "app"}
	f.inv.Entries = append(f.inv.Entries, e)
	return e
}

func (f *fixture) configMap(name string, lbls map[string]any, ann map[string]any) inventory.Entry {
	meta := map[string]any{"name": name, "namespace": f.ns}
	if lbls != nil {
		meta["labels"] = lbls
	}
	if ann != nil {
		meta["annotations"] = ann
	}
	return f.add(&unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": map[string]any{"k": "v"},
	}})
}

// exists reports whether the object of e is in the cluster and not being
// deleted.
func (f *fixture) exists(e inventory.Entry) bool {
	f.t.Helper()
	ctx := context.Background()
	mapping, err := f.client.Mapper.Mapping(ctx, e.GroupVersionKind())
	if err != nil {
		f.t.Fatal(err)
	}
	res := f.client.Dynamic.Resource(mapping.Resource)
	var obj *unstructured.Unstructured
	if e.Namespace != "" {
		obj, err = res.Namespace(e.Namespace).Get(ctx, e.Name, metav1.GetOptions{})
	} else {
		obj, err = res.Get(ctx, e.Name, metav1.GetOptions{})
	}
	if apierrors.IsNotFound(err) {
		return false
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return obj.GetDeletionTimestamp() == nil
}

func (f *fixture) options(current ...inventory.Entry) prune.Options {
	return prune.Options{
		Environment:    f.env,
		Previous:       f.inv,
		Current:        current,
		ApplySucceeded: true,
	}
}

func outcomes(res *prune.Result) map[string]prune.Outcome {
	m := map[string]prune.Outcome{}
	for _, it := range res.Items {
		m[it.Entry.Name] = it.Outcome
	}
	return m
}

func TestPruneDeletesOnlyWhatCarriesOurLabels(t *testing.T) {
	f := newFixture(t, "p-owned")
	a := f.configMap("a", labels(f.env), nil)
	b := f.configMap("b", labels(f.env), nil)
	c := f.configMap("c", labels(f.env), nil)
	removed := f.configMap("removed", labels(f.env), nil)
	unlabelled := f.configMap("unlabelled", nil, nil)
	foreign := f.configMap("foreign", labels("another-env"), nil)

	res, err := prune.Run(t.Context(), f.client, f.options(a, b, c))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]prune.Outcome{"removed": prune.Pruned, "unlabelled": prune.Skipped, "foreign": prune.Skipped}
	if diff := cmp.Diff(want, outcomes(res)); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
	for _, it := range res.With(prune.Skipped) {
		if !strings.Contains(it.Reason, "left alone") {
			t.Errorf("skip reason for %s does not say it was left alone: %q", it.Entry.Name, it.Reason)
		}
	}
	for _, e := range []inventory.Entry{a, b, c, unlabelled, foreign} {
		if !f.exists(e) {
			t.Errorf("%s was deleted", e)
		}
	}
	if f.exists(removed) {
		t.Errorf("%s was not pruned", removed)
	}
	if len(res.Retained()) != 0 {
		t.Errorf("retained %v", res.Retained())
	}

	// Pruning again is idempotent: the object is already gone.
	res, err = prune.Run(t.Context(), f.client, f.options(a, b, c))
	if err != nil {
		t.Fatal(err)
	}
	if got := outcomes(res)["removed"]; got != prune.Gone {
		t.Errorf("second prune of a deleted object: %s, want gone", got)
	}
}

func TestPruneGuards(t *testing.T) {
	f := newFixture(t, "p-guards")
	var all []inventory.Entry
	for _, n := range []string{"a", "b", "c", "d"} {
		all = append(all, f.configMap(n, labels(f.env), nil))
	}
	nothingDeleted := func() {
		t.Helper()
		for _, e := range all {
			if !f.exists(e) {
				t.Fatalf("%s was deleted by a refused prune", e)
			}
		}
	}

	// An empty render (say, an overlay that lost its resources) is refused,
	// and every candidate is kept by that guard.
	refused, err := prune.Run(t.Context(), f.client, f.options())
	if errs.KindOf(err) != errs.KindInput || !strings.Contains(err.Error(), "--prune-empty") {
		t.Fatalf("empty render: err = %v, want a bad-input error saying how to lift the guard", err)
	}
	if refused == nil || len(refused.With(prune.Held)) != 4 {
		t.Fatalf("empty render: result %+v, want the 4 candidates held", refused)
	}
	for _, it := range refused.Items {
		if it.Guard != prune.GuardEmpty {
			t.Errorf("%s kept by guard %q, want %q", it.Entry.Name, it.Guard, prune.GuardEmpty)
		}
	}
	nothingDeleted()

	// Three of four (75%) is above the default 50%.
	_, err = prune.Run(t.Context(), f.client, f.options(all[0]))
	if errs.KindOf(err) != errs.KindInput || !strings.Contains(err.Error(), "prune.maxFraction") {
		t.Fatalf("max fraction: err = %v", err)
	}
	nothingDeleted()

	// Not after an apply that failed.
	opts := f.options(all[0], all[1], all[2])
	opts.ApplySucceeded = false
	if _, err := prune.Run(t.Context(), f.client, opts); !errors.Is(err, prune.ErrApplyIncomplete) {
		t.Fatalf("after a failed apply: err = %v", err)
	}
	nothingDeleted()

	// Forced, the prune goes ahead.
	opts = f.options(all[0])
	opts.Force = true
	res, err := prune.Run(t.Context(), f.client, opts)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(res.With(prune.Pruned)); n != 3 {
		t.Errorf("forced prune deleted %d objects, want 3", n)
	}
	if !f.exists(all[0]) || f.exists(all[1]) || f.exists(all[3]) {
		t.Error("forced prune deleted the wrong objects")
	}
}

func TestPruneNamespaceNeedsOptIn(t *testing.T) {
	f := newFixture(t, "p-ns")
	keep := f.configMap("keep", labels(f.env), nil)
	nsName := f.ns + "-extra"
	ns := f.add(&unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Namespace",
		"metadata": map[string]any{"name": nsName, "labels": labels(f.env)},
	}})
	t.Cleanup(func() {
		_ = testenv.Get(t).Clientset().CoreV1().Namespaces().Delete(context.Background(), nsName, metav1.DeleteOptions{})
	})

	res, err := prune.Run(t.Context(), f.client, f.options(keep))
	if err != nil {
		t.Fatal(err)
	}
	if got := outcomes(res)[nsName]; got != prune.Skipped {
		t.Fatalf("Namespace without allowNamespaces: %s, want skipped", got)
	}
	if !strings.Contains(res.Items[0].Reason, "prune.allowNamespaces") {
		t.Errorf("reason %q does not name the setting", res.Items[0].Reason)
	}
	if !f.exists(ns) {
		t.Fatal("Namespace deleted without the opt-in")
	}

	opts := f.options(keep)
	opts.Settings = config.PruneSettings{AllowNamespaces: true}
	res, err = prune.Run(t.Context(), f.client, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := outcomes(res)[nsName]; got != prune.Pruned {
		t.Fatalf("Namespace with allowNamespaces: %s, want pruned", got)
	}
	if f.exists(ns) {
		t.Error("Namespace not deleted with the opt-in")
	}
}

func TestPruneDisabledAnnotation(t *testing.T) {
	f := newFixture(t, "p-annot")
	keep := f.configMap("keep", labels(f.env), nil)
	keep2 := f.configMap("keep2", labels(f.env), nil)
	pinned := f.configMap("pinned", labels(f.env), map[string]any{"envctl.dev/prune": "disabled"})

	res, err := prune.Run(t.Context(), f.client, f.options(keep, keep2))
	if err != nil {
		t.Fatal(err)
	}
	if got := outcomes(res)["pinned"]; got != prune.Skipped {
		t.Fatalf("annotated object: %s, want skipped", got)
	}
	if !strings.Contains(res.Items[0].Reason, "envctl.dev/prune: disabled") {
		t.Errorf("reason %q", res.Items[0].Reason)
	}
	if !f.exists(pinned) {
		t.Error("an object annotated envctl.dev/prune: disabled was deleted")
	}
}

// helm.sh/resource-policy: keep keeps an object through prune and down
// (All, Force: every guard lifted), as it does through Helm's uninstall;
// Helm trims and lower-cases the value.
func TestHelmResourcePolicyKeep(t *testing.T) {
	f := newFixture(t, "p-helmkeep")
	cur := f.configMap("current", labels(f.env), nil)
	kept := f.configMap("kept", labels(f.env), map[string]any{"helm.sh/resource-policy": " Keep"})
	other := f.configMap("other-policy", labels(f.env), map[string]any{"helm.sh/resource-policy": "delete"})
	gone := f.configMap("plain", labels(f.env), nil)

	opts := f.options(cur)
	opts.Settings = config.PruneSettings{MaxFraction: 1}
	res, err := prune.Run(t.Context(), f.client, opts)
	if err != nil {
		t.Fatal(err)
	}
	got := outcomes(res)
	if got["kept"] != prune.Skipped || got["other-policy"] != prune.Pruned || got["plain"] != prune.Pruned {
		t.Fatalf("prune outcomes %v: want kept skipped, other-policy and plain pruned", got)
	}
	for _, it := range res.Items {
		if it.Entry.Name == "kept" && !strings.Contains(it.Reason, "helm.sh/resource-policy: keep") {
			t.Errorf("reason %q does not name the annotation", it.Reason)
		}
	}
	if !f.exists(kept) || f.exists(other) || f.exists(gone) {
		t.Errorf("after prune: kept exists %v (want true), other-policy %v, plain %v (want false)", f.exists(kept), f.exists(other), f.exists(gone))
	}

	// What down asks: everything, every guard lifted.
	down := f.options()
	down.All, down.Force, down.Wait, down.Timeout = true, true, true, time.Minute
	down.Settings = config.PruneSettings{AllowNamespaces: true, MaxFraction: 1}
	res, err = prune.Run(t.Context(), f.client, down)
	if err != nil {
		t.Fatal(err)
	}
	if got := outcomes(res); got["kept"] != prune.Skipped || got["current"] != prune.Pruned {
		t.Fatalf("down outcomes %v: want kept skipped, current pruned", got)
	}
	if !f.exists(kept) || f.exists(cur) {
		t.Errorf("after down: kept exists %v (want true), current exists %v (want false)", f.exists(kept), f.exists(cur))
	}
}

func TestPruneWaitReportsFinalizers(t *testing.T) {
	f := newFixture(t, "p-wait")
	held := f.configMap("held", labels(f.env), nil)
	cms := testenv.Get(t).Clientset().CoreV1().ConfigMaps(f.ns)
	patch := []byte(`{"metadata":{"finalizers":["envctl.dev/test-hold"]}}`)
	if _, err := cms.Patch(t.Context(), "held", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	release := func() {
		_, _ = cms.Patch(context.Background(), "held", types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
	}
	t.Cleanup(release)

	opts := f.options()
	opts.Force, opts.Wait, opts.Timeout = true, true, time.Second
	res, err := prune.Run(t.Context(), f.client, opts)
	if errs.KindOf(err) != errs.KindTimeout {
		t.Fatalf("err = %v, want a timeout", err)
	}
	if !strings.Contains(err.Error(), "envctl.dev/test-hold") || !strings.Contains(err.Error(), held.String()) {
		t.Errorf("timeout %q does not name the object and its finalizer", err)
	}
	if got := res.Retained(); len(got) != 1 || got[0].Name != "held" {
		t.Errorf("retained = %v, want the object still there", got)
	}

	release()
	res, err = prune.Run(t.Context(), f.client, opts)
	if err != nil {
		t.Fatalf("after the finalizer is gone: %v", err)
	}
	if o := outcomes(res)["held"]; o != prune.Gone && o != prune.Pruned {
		t.Errorf("outcome %s", o)
	}
}

// A CRD whose custom resources are someone else's is kept by the CRD guard
// alone: the overrides of the other guards leave it held, its own lifts
// it (and the custom resources go with the CRD).
func TestCRDGuardHoldsUntilItsOwnOverride(t *testing.T) {
	f := newFixture(t, "p-crd")
	group := f.ns + ".prune.envctl.dev"
	crd := f.add(&unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1",
		"kind":       "CustomResourceDefinition",
		"metadata":   map[string]any{"name": "gadgets." + group, "labels": labels(f.env)},
		"spec": map[string]any{
			"group": group,
			"scope": "Namespaced",
			"names": map[string]any{"kind": "Gadget", "plural": "gadgets", "singular": "gadget", "listKind": "GadgetList"},
			"versions": []any{map[string]any{
				"name": "v1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
			}},
		},
	}})
	t.Cleanup(func() {
		crds := f.client.Dynamic.Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"})
		_ = crds.Delete(context.Background(), crd.Name, metav1.DeleteOptions{})
	})
	keep := f.configMap("keep", labels(f.env), nil)
	gadgets := f.client.Dynamic.Resource(schema.GroupVersionResource{Group: group, Version: "v1", Resource: "gadgets"}).Namespace(f.ns)
	theirs := &unstructured.Unstructured{Object: map[string]any{"apiVersion": group + "/v1", "kind": "Gadget", "metadata": map[string]any{"name": "theirs"}}}
	var err error
	for start := time.Now(); ; time.Sleep(100 * time.Millisecond) {
		if _, err = gadgets.Create(t.Context(), theirs, metav1.CreateOptions{}); err == nil || time.Since(start) > 30*time.Second {
			break
		}
	}
	if err != nil {
		t.Fatalf("create a Gadget: %v", err)
	}

	for _, tt := range []struct {
		name string
		set  func(*prune.Options)
	}{
		{"no override", func(*prune.Options) {}},
		{"the other guards' overrides", func(o *prune.Options) { o.Empty, o.Removed = true, []string{"app"} }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			opts := f.options(keep)
			opts.Settings.MaxFraction = 1
			tt.set(&opts)
			res, err := prune.Run(t.Context(), f.client, opts)
			if err != nil {
				t.Fatal(err)
			}
			held := res.With(prune.Held)
			if len(held) != 1 || held[0].Guard != prune.GuardCRD || !strings.Contains(held[0].Reason, "theirs") || !strings.Contains(held[0].Reason, "--prune-crds") {
				t.Fatalf("held %+v, want the CRD, by the CRD guard, naming the Gadget and --prune-crds", held)
			}
			if !f.exists(crd) {
				t.Fatal("the CRD was deleted")
			}
		})
	}

	opts := f.options(keep)
	opts.Settings.MaxFraction, opts.CRDs = 1, true
	res, err := prune.Run(t.Context(), f.client, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := outcomes(res)[crd.Name]; got != prune.Pruned {
		t.Errorf("with --prune-crds the CRD is %s, want pruned", got)
	}
}
