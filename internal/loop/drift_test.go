package loop

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	dto "github.com/prometheus/client_model/go"

	"github.com/envctl/envctl/internal/drift"
	"github.com/envctl/envctl/internal/metrics"
	"github.com/envctl/envctl/internal/notify"
	"github.com/envctl/envctl/internal/syncstate"
)

const configMapYAML = `apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: NS
data:
  mode: declared
`

const deploymentYAML = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: NS
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: nginx:1.27
          env:
            - {name: MODE, value: declared}
`

// deploymentNoReplicas leaves replicas to an autoscaler.
const deploymentNoReplicas = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: scaled
  namespace: NS
spec:
  selector: {matchLabels: {app: scaled}}
  template:
    metadata: {labels: {app: scaled}}
    spec:
      containers:
        - {name: app, image: nginx:1.27}
`

// namedConfigMap and namedDeployment declare objects named name, so that
// each kind of drift below hits its own object: drifts of one object in
// quick succession would meet its backoff.
func namedConfigMap(name string) string {
	return strings.ReplaceAll(configMapYAML, "name: settings", "name: "+name)
}

func namedDeployment(name string) string {
	return strings.ReplaceAll(deploymentYAML, "web", name)
}

// TestDriftIsCorrected makes each kind of drift the issue lists, the way
// kubectl and other writers make it (their field managers and operations),
// and checks that the loop puts the object back as declared.
func TestDriftIsCorrected(t *testing.T) {
	f := newFixture(t)
	cmNames := []string{"deleted", "unlabelled", "changed", "edited", "labelled"}
	depNames := []string{"set-env", "set-image", "patched", "scaled-by-hand"}
	var docs []string
	for _, n := range cmNames {
		docs = append(docs, namedConfigMap(n))
	}
	for _, n := range depNames {
		docs = append(docs, namedDeployment(n))
	}
	f.overlay(append(docs, deploymentNoReplicas)...)
	f.start(nil)
	ctx := context.Background()
	cs := f.te.Clientset()
	cms := cs.CoreV1().ConfigMaps(f.ns)
	deps := cs.AppsV1().Deployments(f.ns)

	cmDeclared := func(name string) func() error {
		return func() error {
			cm, err := cms.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if cm.Data["mode"] != "declared" || len(cm.Data) != 1 {
				return fmt.Errorf("data = %v", cm.Data)
			}
			if cm.Labels["envctl.dev/environment"] != f.env || len(cm.Labels) != 3 {
				return fmt.Errorf("labels = %v, want only envctl's three", cm.Labels)
			}
			return nil
		}
	}
	depDeclared := func(name string) func() error {
		return func() error {
			d, err := deps.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			env := d.Spec.Template.Spec.Containers[0].Env
			if len(env) != 1 || env[0].Name != "MODE" || env[0].Value != "declared" {
				return fmt.Errorf("env = %v", env)
			}
			if *d.Spec.Replicas != 2 {
				return fmt.Errorf("replicas = %d", *d.Spec.Replicas)
			}
			if img := d.Spec.Template.Spec.Containers[0].Image; img != "nginx:1.27" {
				return fmt.Errorf("image = %s", img)
			}
			return nil
		}
	}

	tests := []struct {
		name     string
		drift    func() error
		declared func() error
	}{
		{"deleted", func() error {
			return cms.Delete(ctx, "deleted", metav1.DeleteOptions{})
		}, cmDeclared("deleted")},
		{"environment label removed (kubectl label)", func() error {
			return patch(ctx, f, "configmaps", "unlabelled", "kubectl-label", types.MergePatchType, `{"metadata":{"labels":{"envctl.dev/environment":null}}}`)
		}, cmDeclared("unlabelled")},
		{"declared field changed by another manager", func() error {
			return patch(ctx, f, "configmaps", "changed", "some-operator", types.MergePatchType, `{"data":{"mode":"changed"}}`)
		}, cmDeclared("changed")},
		{"kubectl edit adds a key", func() error {
			cm, err := cms.Get(ctx, "edited", metav1.GetOptions{})
			if err != nil {
				return err
			}
			cm.Data["extra"] = "added by hand"
			_, err = cms.Update(ctx, cm, metav1.UpdateOptions{FieldManager: "kubectl-edit"})
			return err
		}, cmDeclared("edited")},
		{"kubectl label adds a label", func() error {
			return patch(ctx, f, "configmaps", "labelled", "kubectl-label", types.MergePatchType, `{"metadata":{"labels":{"debug":"true"}}}`)
		}, cmDeclared("labelled")},
		{"kubectl set env adds a variable to the declared list", func() error {
			return patch(ctx, f, "deployments", "set-env", "kubectl-set", types.StrategicMergePatchType,
				`{"spec":{"template":{"spec":{"containers":[{"name":"set-env","env":[{"name":"EXTRA","value":"1"}]}]}}}}`)
		}, depDeclared("set-env")},
		{"kubectl set image", func() error {
			return patch(ctx, f, "deployments", "set-image", "kubectl-set", types.StrategicMergePatchType,
				`{"spec":{"template":{"spec":{"containers":[{"name":"set-image","image":"nginx:1.28"}]}}}}`)
		}, depDeclared("set-image")},
		{"kubectl patch", func() error {
			return patch(ctx, f, "deployments", "patched", "kubectl-patch", types.StrategicMergePatchType,
				`{"spec":{"template":{"spec":{"containers":[{"name":"patched","env":[{"name":"MODE","value":"patched"}]}]}}}}`)
		}, depDeclared("patched")},
		{"kubectl scale", func() error {
			_, err := deps.UpdateScale(ctx, "scaled-by-hand", &autoscalingv1.Scale{
				ObjectMeta: metav1.ObjectMeta{Name: "scaled-by-hand", Namespace: f.ns},
				Spec:       autoscalingv1.ScaleSpec{Replicas: 5},
			}, metav1.UpdateOptions{FieldManager: "kubectl-scale"})
			return err
		}, depDeclared("scaled-by-hand")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := counterValue(t, f.metrics, "envctl_drift_corrected_total")
			if err := tt.drift(); err != nil {
				t.Fatalf("making drift: %v", err)
			}
			eventually(t, 10*time.Second, "the object to be put back", tt.declared)
			eventually(t, 5*time.Second, "the correction to be counted", func() error {
				if got := counterValue(t, f.metrics, "envctl_drift_corrected_total"); got <= before {
					return fmt.Errorf("corrections = %v, was %v", got, before)
				}
				return nil
			})
		})
	}

	// What the loop must leave alone: a field it does not declare, set by
	// a controller (an autoscaler's replicas through the scale subresource).
	t.Run("autoscaler replicas are left alone", func(t *testing.T) {
		before := counterValue(t, f.metrics, "envctl_drift_detected_total")
		_, err := deps.UpdateScale(ctx, "scaled", &autoscalingv1.Scale{
			ObjectMeta: metav1.ObjectMeta{Name: "scaled", Namespace: f.ns},
			Spec:       autoscalingv1.ScaleSpec{Replicas: 3},
		}, metav1.UpdateOptions{FieldManager: "kube-controller-manager"})
		if err != nil {
			t.Fatal(err)
		}
		settle(f)
		d, err := deps.Get(ctx, "scaled", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if *d.Spec.Replicas != 3 {
			t.Errorf("replicas = %d, want the autoscaler's 3", *d.Spec.Replicas)
		}
		if got := counterValue(t, f.metrics, "envctl_drift_detected_total"); got != before {
			t.Errorf("drift detected went from %v to %v; a controller's field is not drift", before, got)
		}
	})

	st := f.loop.Status()
	if st.DriftCorrected < int64(len(tests)) || st.DriftDetected < st.DriftCorrected || st.Fights != 0 {
		t.Errorf("status counts %d detected, %d corrected, %d fights; want at least %d corrected and no fight", st.DriftDetected, st.DriftCorrected, st.Fights, len(tests))
	}
}

// settle waits until the loop has had time to see and handle the events of
// a change: its queue empty and no event for a little while.
func settle(f *fixture) {
	time.Sleep(300 * time.Millisecond)
	eventually(f.t, 5*time.Second, "the drift queue to drain", func() error {
		if n := f.loop.queue.len(); n > 0 {
			return fmt.Errorf("%d queued", n)
		}
		return nil
	})
}

func TestDetectModeOnlyReports(t *testing.T) {
	f := newFixture(t)
	f.overlay(configMapYAML)
	f.start(func(o *Options) { o.Drift = drift.Detect })
	ctx := context.Background()
	if err := patch(ctx, f, "configmaps", "settings", "kubectl-edit", types.MergePatchType, `{"data":{"mode":"edited"}}`); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the drift to be reported", func() error {
		if st := f.loop.Status(); st.DriftDetected != 1 {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
	settle(f)
	cm, err := f.te.Clientset().CoreV1().ConfigMaps(f.ns).Get(ctx, "settings", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cm.Data["mode"] != "edited" {
		t.Errorf("detect mode changed the object: data %v", cm.Data)
	}
	if got := counterValue(t, f.metrics, "envctl_drift_corrected_total"); got != 0 {
		t.Errorf("corrections = %v in detect mode", got)
	}
	st := f.loop.Status()
	if st.DriftDetected != 1 || st.DriftCorrected != 0 || st.LastDrift == "" {
		t.Errorf("status = %d detected, %d corrected, last %q; want 1, 0 and the object named", st.DriftDetected, st.DriftCorrected, st.LastDrift)
	}
}

func TestIgnoredObjectIsLeftAlone(t *testing.T) {
	f := newFixture(t)
	ignored := `apiVersion: v1
kind: ConfigMap
metadata:
  name: hand-tuned
  namespace: NS
  annotations: {envctl.dev/drift: ignore}
data: {mode: declared}
`
	f.overlay(ignored, configMapYAML)
	f.start(nil)
	ctx := context.Background()
	cms := f.te.Clientset().CoreV1().ConfigMaps(f.ns)
	if err := patch(ctx, f, "configmaps", "hand-tuned", "kubectl-edit", types.MergePatchType, `{"data":{"mode":"tuned"}}`); err != nil {
		t.Fatal(err)
	}
	// Annotated live, by hand: left alone too.
	if err := patch(ctx, f, "configmaps", "settings", "kubectl-annotate", types.MergePatchType, `{"metadata":{"annotations":{"envctl.dev/drift":"ignore"}},"data":{"mode":"tuned"}}`); err != nil {
		t.Fatal(err)
	}
	settle(f)
	for _, name := range []string{"hand-tuned", "settings"} {
		cm, err := cms.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if cm.Data["mode"] != "tuned" {
			t.Errorf("%s: data %v, want the hand-made change kept", name, cm.Data)
		}
	}
	if st := f.loop.Status(); st.DriftDetected != 0 {
		t.Errorf("drift detected on ignored objects: %+v", st)
	}
}

// TestFightBacksOffAndIsCounted runs a controller that puts its own value
// back into a field envctl declares every time envctl corrects it.
func TestFightBacksOffAndIsCounted(t *testing.T) {
	f := newFixture(t)
	f.overlay(configMapYAML)
	seen := &collector{}
	hub := notify.NewHub(notify.HubOptions{Notifiers: []notify.Notifier{seen}})
	defer hub.Close(time.Second)
	f.start(func(o *Options) { o.Notify = hub })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cms := f.te.Clientset().CoreV1().ConfigMaps(f.ns)

	var corrections []time.Time
	fighter := make(chan struct{})
	go func() {
		defer close(fighter)
		w, err := cms.Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=settings"})
		if err != nil {
			return
		}
		defer w.Stop()
		_ = patch(ctx, f, "configmaps", "settings", "fighter", types.MergePatchType, `{"data":{"mode":"fighter"}}`)
		for ev := range w.ResultChan() {
			cm, ok := ev.Object.(*corev1.ConfigMap)
			if !ok || cm.Data["mode"] != "declared" {
				continue
			}
			corrections = append(corrections, time.Now())
			_ = patch(ctx, f, "configmaps", "settings", "fighter", types.MergePatchType, `{"data":{"mode":"fighter"}}`)
		}
	}()
	const watchFor = 6 * time.Second
	time.Sleep(watchFor)
	cancel()
	<-fighter

	// Unbounded, the loop would correct hundreds of times in 6 s. With
	// backoff it corrects at 0, +1 s, +2 s, +4 s: four or five times.
	if n := len(corrections); n < 3 || n > 5 {
		t.Errorf("%d corrections in %s, want 3 to 5 (immediate, then 1s, 2s, 4s apart)", n, watchFor)
	}
	for i := 2; i < len(corrections); i++ {
		gap, prev := corrections[i].Sub(corrections[i-1]), corrections[i-1].Sub(corrections[i-2])
		if gap < prev {
			t.Errorf("correction %d came %v after the previous, sooner than the gap before it (%v): no backoff", i, gap, prev)
		}
	}
	if got := counterValue(t, f.metrics, "envctl_drift_fights_total"); got != 1 {
		t.Errorf("fights = %v, want 1", got)
	}
	if st := f.loop.Status(); st.Fights != 1 {
		t.Errorf("status fights = %d, want 1", st.Fights)
	}
	hub.Close(time.Second)
	if e := seen.find(notify.Fight, notify.ReasonFight); e == nil || e.Component != "app" || e.Object != "ConfigMap "+f.ns+"/settings" ||
		!strings.Contains(e.Message, "fighter") {
		t.Errorf("fight notification = %+v", e)
	}
	if e := seen.find(notify.DriftCorrected, notify.ReasonDriftCorrected); e == nil || e.Object != "ConfigMap "+f.ns+"/settings" {
		t.Errorf("drift corrected notification = %+v", e)
	}
}

// patch patches a namespaced object of the fixture's namespace as manager.
func patch(ctx context.Context, f *fixture, resource, name, manager string, pt types.PatchType, body string) error {
	opts := metav1.PatchOptions{FieldManager: manager}
	cs := f.te.Clientset()
	var err error
	switch resource {
	case "configmaps":
		_, err = cs.CoreV1().ConfigMaps(f.ns).Patch(ctx, name, pt, []byte(body), opts)
	case "deployments":
		_, err = cs.AppsV1().Deployments(f.ns).Patch(ctx, name, pt, []byte(body), opts)
	default:
		return fmt.Errorf("patch: resource %s not handled", resource)
	}
	return err
}

// counterValue sums a counter of m over its labels.
func counterValue(t testing.TB, m *metrics.Metrics, name string) float64 {
	t.Helper()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(families, func(f *dto.MetricFamily) bool { return f.GetName() == name })
	if i < 0 {
		return 0
	}
	sum := 0.0
	for _, mt := range families[i].GetMetric() {
		if c := mt.GetCounter(); c != nil {
			sum += c.GetValue()
		}
	}
	return sum
}

// An object relabelled for another environment leaves the environment's
// watch as a deleted one would, but it is another's now: the loop reports
// a conflict and does not take it back, while an object whose label was
// merely removed beside it is put back.
func TestObjectRelabelledForAnotherEnvironmentIsNotTakenBack(t *testing.T) {
	f := newFixture(t)
	f.overlay(namedConfigMap("taken"), namedConfigMap("unlabelled"))
	f.start(nil)
	ctx := context.Background()
	cms := f.te.Clientset().CoreV1().ConfigMaps(f.ns)
	before := counterValue(t, f.metrics, "envctl_drift_corrected_total")
	if err := patch(ctx, f, "configmaps", "taken", "kubectl-label", types.MergePatchType,
		`{"metadata":{"labels":{"envctl.dev/environment":"other"}},"data":{"mode":"the other environment's"}}`); err != nil {
		t.Fatal(err)
	}
	if err := patch(ctx, f, "configmaps", "unlabelled", "kubectl-label", types.MergePatchType, `{"metadata":{"labels":{"envctl.dev/environment":null}}}`); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the conflict to be reported and the unlabelled object put back", func() error {
		st := f.loop.Status()
		if st.DriftConflicts != 1 || st.DriftCorrected == 0 {
			return fmt.Errorf("status: %d conflicts, %d corrected, last drift %q", st.DriftConflicts, st.DriftCorrected, st.LastDrift)
		}
		cm, err := cms.Get(ctx, "unlabelled", metav1.GetOptions{})
		if err != nil || cm.Labels["envctl.dev/environment"] != f.env {
			return fmt.Errorf("unlabelled: labels %v, %v", cm.GetLabels(), err)
		}
		return nil
	})
	settle(f)
	f.loop.verifyAll() // a resync finds it again: still not taken back, reported once
	settle(f)
	cm, err := cms.Get(ctx, "taken", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cm.Labels["envctl.dev/environment"] != "other" || cm.Data["mode"] != "the other environment's" {
		t.Errorf("the relabelled object was taken back: labels %v, data %v", cm.Labels, cm.Data)
	}
	if got := counterValue(t, f.metrics, "envctl_drift_corrected_total") - before; got != 1 {
		t.Errorf("%v corrections, want 1 (the unlabelled object's)", got)
	}
	if st := f.loop.Status(); st.DriftConflicts != 1 {
		t.Errorf("conflicts reported %d times, want once", st.DriftConflicts)
	}
}

// A fight has a bound: after the backoff's GiveUpAfter corrections in a
// row the loop leaves the object to the other writer, says so (log and
// status, naming it), and corrects it again only once a reconcile is
// requested (or a new revision applied).
func TestFightIsLeftAloneAfterItsBound(t *testing.T) {
	f := newFixture(t)
	f.overlay(configMapYAML)
	f.tune = func(l *Loop) {
		l.backoff.Base, l.backoff.GiveUpAfter = 100*time.Millisecond, 4
	}
	f.start(nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cms := f.te.Clientset().CoreV1().ConfigMaps(f.ns)

	var mu sync.Mutex
	var corrections []time.Time
	counted := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(corrections)
	}
	fighter := make(chan struct{})
	go func() {
		defer close(fighter)
		w, err := cms.Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=settings"})
		if err != nil {
			return
		}
		defer w.Stop()
		_ = patch(ctx, f, "configmaps", "settings", "fighter", types.MergePatchType, `{"data":{"mode":"fighter"}}`)
		for ev := range w.ResultChan() {
			cm, ok := ev.Object.(*corev1.ConfigMap)
			if !ok || ev.Type != watch.Modified || cm.Data["mode"] != "declared" {
				continue
			}
			mu.Lock()
			corrections = append(corrections, time.Now())
			mu.Unlock()
			_ = patch(ctx, f, "configmaps", "settings", "fighter", types.MergePatchType, `{"data":{"mode":"fighter"}}`)
		}
	}()
	eventually(t, 10*time.Second, "the fight to be given up", func() error {
		if st := f.loop.Status(); len(st.LeftAlone) != 1 {
			return fmt.Errorf("left alone: %v", st.LeftAlone)
		}
		return nil
	})
	time.Sleep(2 * time.Second) // ten times the last delay: no further correction
	if n := counted(); n != 4 {
		t.Errorf("%d corrections, want 4: the bound", n)
	}
	st := f.loop.Status()
	if want := "ConfigMap " + f.ns + "/settings: fought with fighter; left alone after 4 corrections"; !strings.HasPrefix(st.LeftAlone[0], want) {
		t.Errorf("status says %q, want it to start %q", st.LeftAlone[0], want)
	}
	if st.Fights != 1 {
		t.Errorf("fights = %d, want 1", st.Fights)
	}
	cm, err := cms.Get(ctx, "settings", metav1.GetOptions{})
	if err != nil || cm.Data["mode"] != "fighter" {
		t.Errorf("the object left alone: %v, %v; want the other writer's value", cm.Data, err)
	}

	// A requested reconcile takes the object back and ends the giving up.
	store := &syncstate.Store{Client: f.te.Clientset()}
	if _, err := store.RequestReconcile(ctx, f.env); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "corrections to resume", func() error {
		if n := counted(); n <= 4 {
			return fmt.Errorf("%d corrections", n)
		}
		if st := f.loop.Status(); len(st.LeftAlone) != 0 {
			return fmt.Errorf("still left alone: %v", st.LeftAlone)
		}
		return nil
	})
	cancel()
	<-fighter
}
