package notify

import (
	"context"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
)

// ReportingController is the component Kubernetes Events name as their
// reporter (source.component and reportingController).
const ReportingController = "envctl"

// Annotations of envctl's Kubernetes Events, for filtering.
const (
	AnnotationRevision  = "envctl.dev/revision"
	AnnotationComponent = "envctl.dev/component"
	AnnotationObject    = "envctl.dev/object"
)

// Timing of the Event recorder.
const (
	// regardingTTL is how long the sync record's UID is trusted before it
	// is read again (the record may be deleted and made anew).
	regardingTTL = time.Minute
	// regardingWait bounds the wait for the record to exist: the loop
	// writes it within a second of its start.
	regardingWait = 10 * time.Second
	maxMessage    = 1024
)

// KubeEvents records the loop's events as Kubernetes Events (core/v1)
// about the environment's sync record, the ConfigMap
// envctl-system/envctl-sync-ENV, so that `kubectl describe configmap -n
// envctl-system envctl-sync-ENV` and `kubectl events` show them. It uses
// client-go's recorder, whose correlator aggregates similar events and
// rate-limits each object's (a burst of 25, then one per 5 minutes), so a
// loop in trouble does not flood the API server.
type KubeEvents struct {
	client    kubernetes.Interface
	namespace string
	name      string
	log       *slog.Logger

	broadcaster record.EventBroadcaster
	recorder    record.EventRecorder

	q    chan Event
	done chan struct{}
	once sync.Once

	cached  *corev1.ConfigMap
	fetched time.Time
}

// NewKubeEvents starts a recorder of events about ConfigMap
// namespace/name; holder names this process (reportingInstance). Close
// stops it.
func NewKubeEvents(client kubernetes.Interface, namespace, name, holder string, log *slog.Logger) *KubeEvents {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := record.NewBroadcaster()
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	k := &KubeEvents{
		client: client, namespace: namespace, name: name, log: log,
		broadcaster: b,
		recorder:    b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: ReportingController, Host: holder}),
		q:           make(chan Event, queueSize),
		done:        make(chan struct{}),
	}
	go k.run()
	return k
}

// Record queues e; it never blocks (an event that finds the queue full is
// dropped, as the recorder itself drops under load).
func (k *KubeEvents) Record(e Event) {
	select {
	case <-k.done:
	case k.q <- e:
	default:
		k.log.Warn("Kubernetes Event dropped: too many waiting", "reason", e.Reason)
	}
}

func (k *KubeEvents) run() {
	for {
		select {
		case <-k.done:
			return
		case e := <-k.q:
			k.record(e)
		}
	}
}

func (k *KubeEvents) record(e Event) {
	cm := k.regarding()
	if cm == nil {
		return
	}
	typ := corev1.EventTypeNormal
	if e.Warning() {
		typ = corev1.EventTypeWarning
	}
	ann := map[string]string{}
	for key, v := range map[string]string{AnnotationRevision: e.Revision, AnnotationComponent: e.Component, AnnotationObject: e.Object} {
		if v != "" {
			ann[key] = v
		}
	}
	msg := e.Message
	if e.Revision != "" && e.Kind != DriftCorrected {
		msg += " (revision " + e.Revision + ")"
	}
	if len(msg) > maxMessage {
		msg = msg[:maxMessage-3] + "..."
	}
	k.recorder.AnnotatedEventf(cm, ann, typ, e.Reason, "%s", msg)
}

// regarding is the sync record, read at most every regardingTTL; nil when
// it cannot be read within regardingWait.
func (k *KubeEvents) regarding() *corev1.ConfigMap {
	if k.cached != nil && time.Since(k.fetched) < regardingTTL {
		return k.cached
	}
	ctx, cancel := context.WithTimeout(context.Background(), regardingWait)
	defer cancel()
	for {
		cm, err := k.client.CoreV1().ConfigMaps(k.namespace).Get(ctx, k.name, metav1.GetOptions{})
		if err == nil {
			cm.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("ConfigMap"))
			k.cached, k.fetched = cm, time.Now()
			return cm
		}
		if !apierrors.IsNotFound(err) || ctx.Err() != nil {
			if k.cached != nil {
				return k.cached
			}
			k.log.Warn("Kubernetes Event not recorded: cannot read the sync record", "configmap", k.namespace+"/"+k.name, "err", err)
			return nil
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Close stops recording, after the queued events, for at most grace.
func (k *KubeEvents) Close(grace time.Duration) {
	k.once.Do(func() {
		deadline := time.Now().Add(grace)
		for len(k.q) > 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		close(k.done)
		// The broadcaster hands events to the API server in the
		// background: give the last ones a moment.
		time.Sleep(min(time.Until(deadline), 200*time.Millisecond))
		k.broadcaster.Shutdown()
	})
}
