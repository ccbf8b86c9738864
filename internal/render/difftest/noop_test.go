package difftest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/envctl/envctl/internal/apply"
	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/kube"
	"github.com/envctl/envctl/internal/object"
	"github.com/envctl/envctl/internal/ownership"
	"github.com/envctl/envctl/internal/render"
	"github.com/envctl/envctl/internal/source"
	"github.com/envctl/envctl/internal/testenv"
)

// nullDocs are objects as templates write them when a value is left empty:
// null maps, lists and values where the server stores none or "". NS stands
// for the test's namespace.
const nullDocs = `apiVersion: v1
kind: ConfigMap
metadata:
  name: nulls-maps
  namespace: NS
  labels:
  annotations:
data:
  key:
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: nulls-values
  namespace: NS
  labels:
    tier:
  annotations:
    note:
    other: ~
  finalizers:
data:
---
apiVersion: v1
kind: Secret
metadata:
  name: nulls-secret
  namespace: NS
  annotations: ~
stringData:
  password:
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: nulls-web
  namespace: NS
  annotations:
spec:
  replicas:
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      annotations:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: example.com/web:1
        env:
        resources:
---
apiVersion: difftest.envctl.dev/v1
kind: Widget
metadata:
  name: nulls-widget
  namespace: NS
  labels:
    tier:
  annotations:
spec:
  size: 3
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: NS-nulls-reader
  namespace: ""
  annotations:
rules:
`

// TestNullsApplyOnce applies objects holding nulls the server reads as empty
// and checks that the next apply writes nothing: with the inventory's record
// envctl sends no request, and without it the server finds nothing to
// change, because envctl sent what the server stores.
func TestNullsApplyOnce(t *testing.T) {
	env := testenv.Get(t)
	ns := env.Namespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	createWidgetCRD(ctx, t, env)

	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "m"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "m", "nulls.yaml"), []byte(strings.ReplaceAll(nullDocs, "NS", ns)), 0o644); err != nil {
		t.Fatal(err)
	}
	snap, err := source.Local(dir)
	if err != nil {
		t.Fatal(err)
	}
	e := &config.Environment{
		APIVersion: config.APIVersion,
		Kind:       config.KindEnvironment,
		Metadata:   config.Metadata{Name: ns},
		Spec:       config.EnvironmentSpec{Components: []config.Component{{Name: "m", Manifests: &config.Manifests{Path: "m"}}}},
	}
	e.ApplyDefaults(config.DefaultSettings())
	res, err := render.Render(ctx, render.Options{Source: snap, Environment: e, ChartCacheDir: filepath.Join(dir, ".charts")})
	if err != nil {
		t.Fatal(err)
	}
	var objs []*unstructured.Unstructured
	for _, it := range res.Items() {
		objs = append(objs, it.Object)
	}
	t.Cleanup(func() {
		_ = env.Clientset().RbacV1().ClusterRoles().Delete(context.Background(), ns+"-nulls-reader", metav1.DeleteOptions{})
	})

	cfg, counter := kube.CountingConfig(env.RESTConfig())
	client, err := kube.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mgr := apply.NewManager(client, apply.DefaultManagerOptions())
	mgr.UseSecretKey([]byte("difftest-fingerprint-key"))
	opts := func(prev map[object.Key]apply.Recorded) apply.Options {
		o := apply.DefaultOptions()
		o.Selector, o.Environment, o.Previous = ownership.LabelEnvironment, ns, prev
		return o
	}

	first, err := mgr.Apply(ctx, objs, opts(nil))
	if err != nil {
		t.Fatalf("first apply: %v", err)
	}
	prev := map[object.Key]apply.Recorded{}
	for _, c := range first.Changes {
		if c.Action != apply.Created {
			t.Errorf("first apply: %s %s, want created", c.Ref, c.Action)
		}
		prev[c.Ref.Key()] = apply.Recorded{Digest: c.Digest, Fields: c.Fields}
	}

	before := counter.Snapshot()
	second, err := mgr.Apply(ctx, objs, opts(prev))
	if err != nil {
		t.Fatalf("second apply: %v", err)
	}
	if w := counter.Snapshot().Sub(before); w.Writes != 0 {
		t.Errorf("second apply with the inventory's record made %d writes: %v", w.Writes, w.WritePaths)
	}
	for _, c := range second.Changes {
		if c.Action != apply.Unchanged {
			t.Errorf("second apply: %s %s, want unchanged", c.Ref, c.Action)
		}
	}

	// The Deployment's controllers write its status for a while after it
	// is created; an apply racing them would see a new resourceVersion
	// that is not its own doing.
	settle(ctx, t, env, ns, "nulls-web")
	third, err := mgr.Apply(ctx, objs, opts(nil))
	if err != nil {
		t.Fatalf("apply without a record: %v", err)
	}
	for _, c := range third.Changes {
		if c.Action != apply.Unchanged {
			t.Errorf("apply without a record: %s %s, want unchanged (the server found something to change)", c.Ref, c.Action)
		}
	}
	if len(third.Changes) != len(objs) {
		t.Errorf("apply without a record: %d changes for %d objects", len(third.Changes), len(objs))
	}
}

// settle waits until Deployment name is available with every replica and
// its resourceVersion has stayed the same for a second.
func settle(ctx context.Context, t *testing.T, env *testenv.Env, ns, name string) {
	t.Helper()
	last, stableSince := "", time.Now()
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		d, err := env.Clientset().AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if d.ResourceVersion != last {
			last, stableSince = d.ResourceVersion, time.Now()
		}
		st, want := d.Status, int32(1)
		if d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		done := st.ObservedGeneration == d.Generation && st.Replicas == want && st.UpdatedReplicas == want && st.AvailableReplicas == want
		return done && time.Since(stableSince) >= time.Second, nil
	})
	if err != nil {
		t.Fatalf("Deployment %s did not settle: %v", name, err)
	}
}
