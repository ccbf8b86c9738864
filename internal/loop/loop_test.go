package loop

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/envctl/envctl/internal/drift"
	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/object"
	"github.com/envctl/envctl/internal/syncstate"
)

func configMap(name, value string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  namespace: NS\ndata:\n  value: %q\n", name, value)
}

func (f *fixture) configMapValue(name string) (string, error) {
	cm, err := f.te.Clientset().CoreV1().ConfigMaps(f.ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	return cm.Data["value"], nil
}

func wantValue(f *fixture, name, want string) func() error {
	return func() error {
		got, err := f.configMapValue(name)
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("%s = %q, want %q", name, got, want)
		}
		return nil
	}
}

func TestLocalFileChangeIsApplied(t *testing.T) {
	f := newFixture(t)
	f.overlay(configMap("a", "one"))
	f.start(nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := WatchFiles(ctx, f.repo, 100*time.Millisecond, f.loop.FilesChanged, testLogger(t)); err != nil {
		t.Fatal(err)
	}
	if err := wantValue(f, "a", "one")(); err != nil {
		t.Fatal(err)
	}
	f.overlay(configMap("a", "two"), configMap("b", "new"))
	eventually(t, 15*time.Second, "the edited file to be applied", wantValue(f, "a", "two"))
	eventually(t, 5*time.Second, "the new object to be applied", wantValue(f, "b", "new"))

	// A file removed from the overlay: its object is pruned.
	f.overlay(configMap("a", "two"))
	eventually(t, 15*time.Second, "b to be pruned", func() error {
		_, err := f.configMapValue("b")
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("b still there: %v", err)
	})
}

func TestRenderErrorKeepsTheLastGoodRevision(t *testing.T) {
	f := newFixture(t)
	f.overlay(configMap("a", "one"), configMap("b", "two"))
	l := f.start(nil)

	// The overlay no longer renders: a resource file that is not YAML.
	f.write("overlays/app/r1.yaml", "this: is: not yaml")
	l.FilesChanged()
	eventually(t, 10*time.Second, "the render error to be reported", func() error {
		if st := l.Status(); !strings.Contains(st.LastError, "r1.yaml") {
			return fmt.Errorf("last error %q", st.LastError)
		}
		return nil
	})
	for _, name := range []string{"a", "b"} {
		if err := wantValue(f, name, map[string]string{"a": "one", "b": "two"}[name])(); err != nil {
			t.Errorf("after the render error: %v (nothing may be pruned or changed)", err)
		}
	}
	if got := counterValue(t, f.metrics, "envctl_reconciles_total"); got < 2 {
		t.Errorf("reconciles counted = %v, want the success and the render error", got)
	}
	// Bad input: the revision is pinned, not retried, and said so.
	if st := l.Status(); st.State != syncstate.StateBlocked || st.LastErrorKind != "input" || !st.NextAttemptAt.IsZero() {
		t.Errorf("status after bad input: state %q, kind %q, next attempt %v; want blocked, input, none", st.State, st.LastErrorKind, st.NextAttemptAt)
	}
	if ok, why := l.Converged(); ok || !strings.Contains(why, "does not render (bad input)") {
		t.Errorf("Converged = %v, %q; want false, saying the revision does not render", ok, why)
	}
	attempts := counterValue(t, f.metrics, "envctl_reconciles_total")
	time.Sleep(2*retryBase + time.Second)
	if got := counterValue(t, f.metrics, "envctl_reconciles_total"); got != attempts {
		t.Errorf("a revision that does not render was tried again (%v attempts, then %v) without a change", attempts, got)
	}
	// The last good render still guards the objects.
	if err := f.te.Clientset().CoreV1().ConfigMaps(f.ns).Delete(context.Background(), "b", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "b to be restored from the last good render", wantValue(f, "b", "two"))

	// Fixed: applied, and the error cleared.
	f.overlay(configMap("a", "fixed"), configMap("b", "two"))
	l.FilesChanged()
	eventually(t, 15*time.Second, "the fixed revision to be applied", wantValue(f, "a", "fixed"))
	eventually(t, 5*time.Second, "the error to be cleared", func() error {
		if st := l.Status(); st.LastError != "" || st.State != syncstate.StateConverged {
			return fmt.Errorf("last error %q, state %q", st.LastError, st.State)
		}
		if ok, why := l.Converged(); !ok {
			return fmt.Errorf("not converged: %s", why)
		}
		return nil
	})
}

func TestRequestsReconcileSuspendResume(t *testing.T) {
	f := newFixture(t)
	f.overlay(configMap("a", "one"))
	l := f.start(nil)
	ctx := context.Background()
	store := &syncstate.Store{Client: f.te.Clientset()}

	// Status is recorded in the cluster.
	eventually(t, 5*time.Second, "the status record", func() error {
		st := recordedStatus(t, store, f.env)
		if st == nil || !st.Running || st.LastAppliedRevision == "" || st.Holder != l.opts.Holder {
			return fmt.Errorf("recorded %+v", st)
		}
		return nil
	})

	// A reconcile request applies a change the loop was not told about.
	f.overlay(configMap("a", "two"))
	token, err := store.RequestReconcile(ctx, f.env)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "the reconcile to be answered", func() error {
		st := recordedStatus(t, store, f.env)
		if st == nil || st.Reconcile == nil || st.Reconcile.Token != token {
			return fmt.Errorf("recorded %+v", st)
		}
		if !st.Reconcile.Succeeded {
			return fmt.Errorf("answer: %+v", st.Reconcile)
		}
		return nil
	})
	if err := wantValue(f, "a", "two")(); err != nil {
		t.Error(err)
	}

	// Suspended: drift stays, files are not applied.
	if err := store.SetSuspended(ctx, f.env, true); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the suspension to be acknowledged", func() error {
		if st := recordedStatus(t, store, f.env); st == nil || !st.Suspended {
			return fmt.Errorf("recorded %+v", st)
		}
		return nil
	})
	if err := patch(ctx, f, "configmaps", "a", "kubectl-edit", "application/merge-patch+json", `{"data":{"value":"by hand"}}`); err != nil {
		t.Fatal(err)
	}
	f.overlay(configMap("a", "three"))
	l.FilesChanged()
	token, err = store.RequestReconcile(ctx, f.env)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the refusal while suspended", func() error {
		st := recordedStatus(t, store, f.env)
		if st == nil || st.Reconcile == nil || st.Reconcile.Token != token {
			return fmt.Errorf("recorded %+v", st)
		}
		if st.Reconcile.Succeeded || !strings.Contains(st.Reconcile.Error, "suspended") {
			return fmt.Errorf("answer %+v, want a refusal", st.Reconcile)
		}
		return nil
	})
	settle(f)
	if err := wantValue(f, "a", "by hand")(); err != nil {
		t.Errorf("while suspended: %v", err)
	}

	// Resumed: the source is looked at and the drift put back.
	if err := store.SetSuspended(ctx, f.env, false); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "the current files to be applied after resume", wantValue(f, "a", "three"))
	eventually(t, 5*time.Second, "the resume to be recorded", func() error {
		if st := recordedStatus(t, store, f.env); st == nil || st.Suspended {
			return fmt.Errorf("recorded %+v", st)
		}
		return nil
	})
}

func TestShutdownSavesInventoryAndRecordsTheStop(t *testing.T) {
	f := newFixture(t)
	f.overlay(configMap("a", "one"))
	f.start(nil)
	// A correction changes the fields hash the inventory records.
	ctx := context.Background()
	if err := patch(ctx, f, "configmaps", "a", "kubectl-edit", "application/merge-patch+json", `{"data":{"value":"x","extra":"y"}}`); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the correction", wantValue(f, "a", "one"))
	settle(f)
	live, err := f.te.Clientset().CoreV1().ConfigMaps(f.ns).Get(ctx, "a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := f.shutdown(); err != nil {
		t.Fatalf("Run returned %v after a stop", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("shutdown took %v", took)
	}
	inv, err := inventory.NewStore(f.te.Clientset()).Load(ctx, f.env)
	if err != nil {
		t.Fatal(err)
	}
	e, ok := inv.Lookup(object.Key{Kind: "ConfigMap", Namespace: f.ns, Name: "a"})
	if !ok {
		t.Fatalf("inventory has no entry for the ConfigMap: %+v", inv.Entries)
	}
	if want := fieldsOf(t, live); e.Fields != want {
		t.Errorf("inventory fields hash %q, want the live object's %q (saved at shutdown)", e.Fields, want)
	}
	st := recordedStatus(t, &syncstate.Store{Client: f.te.Clientset()}, f.env)
	if st == nil || st.Running || st.StoppedAt.IsZero() {
		t.Errorf("recorded after stop: %+v", st)
	}
}

func TestNoOpResyncMakesNoRequests(t *testing.T) {
	f := newFixture(t)
	var docs []string
	for i := range 50 {
		docs = append(docs, configMap(fmt.Sprintf("cm-%d", i), "v"))
	}
	f.overlay(docs...)
	l := f.start(nil)
	settle(f)
	before := f.counter.Snapshot()
	if n := l.verifyAll(); n != 0 {
		t.Errorf("resync found %d drifted objects in a converged environment", n)
	}
	settle(f)
	if d := f.counter.Snapshot().Sub(before); d.Requests != 0 {
		t.Errorf("resync made %d requests (%d writes), want none", d.Requests, d.Writes)
	}
}

func recordedStatus(t testing.TB, store *syncstate.Store, env string) *syncstate.Status {
	t.Helper()
	cm, err := store.Get(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	st, err := syncstate.StatusOf(cm)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// fieldsOf is the hash of the fields envctl owns on a live ConfigMap.
func fieldsOf(t testing.TB, cm *corev1.ConfigMap) string {
	t.Helper()
	h := drift.FieldsHash(cm.ManagedFields, "envctl")
	if h == "" {
		t.Fatalf("ConfigMap %s has no fields of envctl's", cm.Name)
	}
	return h
}

// TestUnhealthyApplyIsRetriedAndPrunesNothing: a revision whose workload
// never becomes healthy is reported, retried with backoff, and what it no
// longer declares is not pruned. The fixture leaves that to the one guard
// under test (no prune after a failed or unhealthy apply): the dropped
// object is one of four, under prune.maxFraction; its component still
// renders objects and is still declared; it is a ConfigMap, not a CRD.
// Without that guard, "keep" is deleted.
func TestUnhealthyApplyIsRetriedAndPrunesNothing(t *testing.T) {
	f := newFixture(t)
	stay := []string{configMap("stay-1", "v"), configMap("stay-2", "v"), configMap("stay-3", "v")}
	f.overlay(append([]string{configMap("keep", "v")}, stay...)...)
	l := f.start(func(o *Options) { o.Policy.Timeout = 2 * time.Second })
	good := l.Status().LastAppliedRevision

	unschedulable := `apiVersion: apps/v1
kind: Deployment
metadata: {name: too-big, namespace: NS}
spec:
  replicas: 1
  selector: {matchLabels: {app: too-big}}
  template:
    metadata: {labels: {app: too-big}}
    spec:
      containers:
        - name: app
          image: nginx:1.27
          resources: {requests: {cpu: "500"}}
`
	f.overlay(append(stay, unschedulable)...) // "keep" is no longer declared
	l.FilesChanged()
	eventually(t, 20*time.Second, "the failure to be reported", func() error {
		if st := l.Status(); !strings.Contains(st.LastError, "too-big") || st.LastErrorKind == "" {
			return fmt.Errorf("status: last error %q (%s)", st.LastError, st.LastErrorKind)
		}
		return nil
	})
	failures := func() float64 {
		fams, err := f.metrics.Registry.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, fam := range fams {
			if fam.GetName() != "envctl_reconciles_total" {
				continue
			}
			for _, m := range fam.GetMetric() {
				for _, lp := range m.GetLabel() {
					if lp.GetName() == "result" && lp.GetValue() == "failure" {
						return m.GetCounter().GetValue()
					}
				}
			}
		}
		return 0
	}
	first := failures()
	eventually(t, 20*time.Second, "a retry", func() error {
		if n := failures(); n <= first {
			return fmt.Errorf("failures %v", n)
		}
		return nil
	})
	if err := wantValue(f, "keep", "v")(); err != nil {
		t.Errorf("after failed reconciles: %v (nothing may be pruned after a failure)", err)
	}
	// Nor is what the failed revision applied rolled back.
	if _, err := f.te.Clientset().AppsV1().Deployments(f.ns).Get(context.Background(), "too-big", metav1.GetOptions{}); err != nil {
		t.Errorf("the unhealthy Deployment after failed reconciles: %v (a failure never rolls back)", err)
	}
	// The last good revision stays the applied one.
	if st := l.Status(); good == "" || st.LastAppliedRevision != good || st.LastAttemptedRevision == good || st.LastAttemptedRevision == "" {
		t.Errorf("status revisions: applied %q, attempted %q; want applied %q (the last good) and the failed one attempted",
			st.LastAppliedRevision, st.LastAttemptedRevision, good)
	}
}
