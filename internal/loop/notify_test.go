package loop

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/envctl/envctl/internal/notify"
	"github.com/envctl/envctl/internal/syncstate"
)

// hookReceiver is a generic webhook endpoint that checks signatures and
// keeps the events of the deliveries that pass.
type hookReceiver struct {
	secret []byte
	mu     sync.Mutex
	events []notify.Event
	bad    int
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var p notify.WebhookPayload
	h.mu.Lock()
	defer h.mu.Unlock()
	if r.Header.Get(notify.HeaderSignature) != notify.Sign(h.secret, body) || json.Unmarshal(body, &p) != nil {
		h.bad++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	h.events = append(h.events, p.Event)
}

func (h *hookReceiver) has(kind notify.Kind) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	var got []string
	for _, e := range h.events {
		if e.Kind == kind {
			return nil
		}
		got = append(got, string(e.Kind))
	}
	return fmt.Errorf("no %s notification (got %v, %d badly signed)", kind, got, h.bad)
}

// eventsOf lists the Kubernetes Events about env's sync record as kubectl
// describe finds them: by the record's kind, name, namespace and UID.
func eventsOf(t testing.TB, f *fixture) ([]corev1.Event, error) {
	t.Helper()
	ctx := context.Background()
	cs := f.te.Clientset()
	cm, err := cs.CoreV1().ConfigMaps(syncstate.Namespace).Get(ctx, syncstate.ConfigMapName(f.env), metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	// The field selector kubectl describe uses.
	sel := fmt.Sprintf("involvedObject.kind=ConfigMap,involvedObject.name=%s,involvedObject.namespace=%s,involvedObject.uid=%s",
		cm.Name, cm.Namespace, cm.UID)
	list, err := cs.CoreV1().Events(syncstate.Namespace).List(ctx, metav1.ListOptions{FieldSelector: sel})
	if err != nil {
		return nil, err
	}
	return list.Items, nil
}

func findEvent(t testing.TB, f *fixture, reason string) (*corev1.Event, error) {
	items, err := eventsOf(t, f)
	if err != nil {
		return nil, err
	}
	var reasons []string
	for i, e := range items {
		if e.Reason == reason {
			return &items[i], nil
		}
		reasons = append(reasons, e.Reason)
	}
	return nil, fmt.Errorf("no %s event on the sync record (events: %v)", reason, reasons)
}

// A reconcile, a drift correction and a render failure show as Events on
// the sync record, reported by envctl, and reach the webhook signed; a
// notifier that always fails changes nothing about the reconcile.
func TestEventsAndNotifications(t *testing.T) {
	f := newFixture(t)
	f.overlay(configMap("a", "one"))
	recv := &hookReceiver{secret: []byte("hook-secret")}
	hookSrv := httptest.NewServer(recv)
	defer hookSrv.Close()
	var failedTries atomic.Int32
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		failedTries.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer broken.Close()
	wh, err := notify.NewWebhook(hookSrv.URL+"/envctl", recv.secret)
	if err != nil {
		t.Fatal(err)
	}
	slack, err := notify.NewSlack(broken.URL + "/services/T/B/SECRET")
	if err != nil {
		t.Fatal(err)
	}
	log := testLogger(t)
	hub := notify.NewHub(notify.HubOptions{
		Recorder:  notify.NewKubeEvents(f.te.Clientset(), syncstate.Namespace, syncstate.ConfigMapName(f.env), "loop-test", log),
		Notifiers: []notify.Notifier{wh, slack},
		Backoff:   5 * time.Millisecond,
		Logger:    log,
	})
	defer hub.Close(time.Second)
	l := f.start(func(o *Options) { o.Notify = hub })
	if st := l.Status(); st.State != syncstate.StateConverged {
		t.Fatalf("state %s with a failing notifier, want converged", st.State)
	}

	var ev *corev1.Event
	eventually(t, 15*time.Second, "a Reconciled event on the sync record", func() (err error) {
		ev, err = findEvent(t, f, notify.ReasonReconciled)
		return err
	})
	if ev.Type != corev1.EventTypeNormal || ev.ReportingController != notify.ReportingController || ev.Source.Component != "envctl" ||
		ev.ReportingInstance != "loop-test" || !strings.Contains(ev.Message, l.Status().LastAppliedRevision) {
		t.Errorf("Reconciled event: type %s, reporting %s/%s, source %s, message %q", ev.Type, ev.ReportingController, ev.ReportingInstance, ev.Source.Component, ev.Message)
	}
	eventually(t, 10*time.Second, "the reconciled webhook", func() error { return recv.has(notify.Reconciled) })

	// Drift: a kubectl edit, put back.
	ctx := context.Background()
	if err := patch(ctx, f, "configmaps", "a", "kubectl-edit", types.MergePatchType, `{"data":{"value":"edited"}}`); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "a DriftCorrected event", func() (err error) {
		ev, err = findEvent(t, f, notify.ReasonDriftCorrected)
		return err
	})
	if want := "ConfigMap " + f.ns + "/a"; ev.Annotations[notify.AnnotationObject] != want || ev.Annotations[notify.AnnotationComponent] != "app" ||
		!strings.Contains(ev.Message, "kubectl-edit") {
		t.Errorf("DriftCorrected event: annotations %v, message %q", ev.Annotations, ev.Message)
	}
	eventually(t, 10*time.Second, "the drift webhook", func() error { return recv.has(notify.DriftCorrected) })

	// A render failure: a Warning.
	f.write("overlays/app/r0.yaml", "this: is: not yaml")
	l.FilesChanged()
	eventually(t, 15*time.Second, "a RenderFailed event", func() (err error) {
		ev, err = findEvent(t, f, notify.ReasonRenderFailed)
		return err
	})
	if ev.Type != corev1.EventTypeWarning {
		t.Errorf("RenderFailed event type %s", ev.Type)
	}
	eventually(t, 10*time.Second, "the failure webhook", func() error { return recv.has(notify.Failed) })

	// An overlay that renders nothing: the empty-render guard keeps "a".
	f.write("overlays/app/kustomization.yaml", "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: []\n")
	l.FilesChanged()
	eventually(t, 15*time.Second, "a PruneHeld event", func() (err error) {
		ev, err = findEvent(t, f, notify.ReasonPruneHeld)
		return err
	})
	if ev.Type != corev1.EventTypeWarning || ev.Annotations[notify.AnnotationComponent] != "app" ||
		!strings.Contains(ev.Message, "empty-render") || !strings.Contains(ev.Message, "ConfigMap "+f.ns+"/a") {
		t.Errorf("PruneHeld event: type %s, annotations %v, message %q", ev.Type, ev.Annotations, ev.Message)
	}
	if _, err := f.configMapValue("a"); err != nil {
		t.Errorf("a was pruned: %v", err)
	}
	eventually(t, 10*time.Second, "the prune-held webhook", func() error { return recv.has(notify.PruneHeld) })

	// The Slack target failed throughout and was retried, boundedly; the
	// loop went on all the same.
	if n := failedTries.Load(); n < 2 {
		t.Errorf("the failing notifier was tried %d times, want retries", n)
	}
}

// collector is a notifier that keeps what it is sent.
type collector struct {
	mu     sync.Mutex
	events []notify.Event
}

func (c *collector) Name() string            { return "collector" }
func (c *collector) Target() string          { return "memory" }
func (c *collector) Wants(notify.Event) bool { return true }
func (c *collector) Send(_ context.Context, e notify.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, e)
	return nil
}

func (c *collector) find(kind notify.Kind, reason string) *notify.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range c.events {
		if c.events[i].Kind == kind && c.events[i].Reason == reason {
			e := c.events[i]
			return &e
		}
	}
	return nil
}
