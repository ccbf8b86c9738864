// Package metrics defines what the continuous reconcile loop (envctl sync
// and envctl daemon) exposes on /metrics, in the Prometheus text format,
// every name prefixed envctl_. It keeps its own registry, so a test or a
// second loop in one process never collides with another's metrics.
package metrics

import (
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Results of a reconcile, as the reconciles_total counter labels them.
const (
	ResultSuccess     = "success"
	ResultFailure     = "failure"
	ResultRenderError = "render_error"
	ResultFetchError  = "fetch_error"
)

// Phases of a reconcile, as the reconcile duration histogram labels them.
const (
	PhaseFetch  = "fetch"
	PhaseRender = "render"
	// PhaseApply runs from the engine's start to the last component done:
	// apply, health wait and hooks.
	PhaseApply = "apply"
	// PhasePrune is prune and the inventory save.
	PhasePrune = "prune"
	PhaseTotal = "total"
)

// Webhook results.
const (
	WebhookAccepted     = "accepted"
	WebhookBadSignature = "bad_signature"
	WebhookReplayed     = "replayed"
	WebhookTooLarge     = "too_large"
	WebhookBadRequest   = "bad_request"
	WebhookDisabled     = "disabled"
)

// Metrics are the loop's instruments.
type Metrics struct {
	Registry *prometheus.Registry

	// ReconcileDuration is the time of each phase of a reconcile.
	ReconcileDuration *prometheus.HistogramVec
	// Reconciles counts reconciles by result.
	Reconciles *prometheus.CounterVec
	// DriftDetected and DriftCorrected count drifted objects by kind.
	DriftDetected  *prometheus.CounterVec
	DriftCorrected *prometheus.CounterVec
	// DriftLatency is the time from the watch event to the correcting
	// apply's answer.
	DriftLatency prometheus.Histogram
	// Fights counts objects whose corrections another writer kept undoing.
	Fights *prometheus.CounterVec
	// FetchDuration and Fetches time and count the source's fetches.
	FetchDuration prometheus.Histogram
	Fetches       *prometheus.CounterVec
	// AppliedRevision is 1 for the revision last applied successfully.
	AppliedRevision *prometheus.GaugeVec
	// Objects counts the declared objects by health status.
	Objects *prometheus.GaugeVec
	// Webhooks counts webhook requests by result.
	Webhooks *prometheus.CounterVec
	// Leader is 1 while this process holds the environment's lock.
	Leader prometheus.Gauge
	// Suspended is 1 while the loop is suspended.
	Suspended prometheus.Gauge

	mu       sync.Mutex
	revision []string
}

// New makes the instruments, registered with a new registry together with
// the Go runtime and process collectors (memory, CPU, file descriptors).
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		ReconcileDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "envctl_reconcile_duration_seconds",
			Help:    "Time of each phase of a reconcile (fetch, render, apply, prune, total).",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}, []string{"phase"}),
		Reconciles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "envctl_reconciles_total",
			Help: "Reconciles by result: success, failure (apply or health), render_error, fetch_error.",
		}, []string{"result"}),
		DriftDetected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "envctl_drift_detected_total",
			Help: "Objects found changed or deleted outside envctl, by kind.",
		}, []string{"kind"}),
		DriftCorrected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "envctl_drift_corrected_total",
			Help: "Drifted objects put back, by kind.",
		}, []string{"kind"}),
		DriftLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "envctl_drift_correction_latency_seconds",
			Help:    "Time from the watch event that showed drift to the answer of the apply that corrected it.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2.5, 5, 10, 60, 300},
		}),
		Fights: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "envctl_drift_fights_total",
			Help: "Objects whose corrections another writer kept undoing (corrections then back off), by kind.",
		}, []string{"kind"}),
		FetchDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "envctl_source_fetch_duration_seconds",
			Help:    "Time to learn the source's revision and fetch it when it moved.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}),
		Fetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "envctl_source_fetches_total",
			Help: "Source fetches by result: success or error.",
		}, []string{"result"}),
		AppliedRevision: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "envctl_applied_revision_info",
			Help: "1 for the source revision last applied successfully.",
		}, []string{"environment", "revision"}),
		Objects: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "envctl_objects",
			Help: "Declared objects by health status (kstatus: Current, InProgress, Failed, ...) after the last reconcile.",
		}, []string{"status"}),
		Webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "envctl_webhook_requests_total",
			Help: "Webhook requests by result: accepted, bad_signature, replayed, too_large, bad_request, disabled.",
		}, []string{"result"}),
		Leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "envctl_leader",
			Help: "1 while this process holds the environment's lock and reconciles it; 0 on a standby.",
		}),
		Suspended: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "envctl_suspended",
			Help: "1 while the loop is suspended (envctl suspend).",
		}),
	}
	reg.MustRegister(
		m.ReconcileDuration, m.Reconciles, m.DriftDetected, m.DriftCorrected, m.DriftLatency, m.Fights,
		m.FetchDuration, m.Fetches, m.AppliedRevision, m.Objects, m.Webhooks, m.Leader, m.Suspended,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	// Results and phases show at zero from the start, so a dashboard's rate
	// has a series before the first of each.
	for _, r := range []string{ResultSuccess, ResultFailure, ResultRenderError, ResultFetchError} {
		m.Reconciles.WithLabelValues(r)
	}
	for _, r := range []string{WebhookAccepted, WebhookBadSignature, WebhookReplayed, WebhookTooLarge, WebhookBadRequest, WebhookDisabled} {
		m.Webhooks.WithLabelValues(r)
	}
	return m
}

// SetAppliedRevision makes revision the one applied revision of env.
func (m *Metrics) SetAppliedRevision(env, revision string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.revision != nil {
		m.AppliedRevision.DeleteLabelValues(m.revision...)
	}
	m.revision = []string{env, revision}
	m.AppliedRevision.WithLabelValues(m.revision...).Set(1)
}

// SetObjects replaces the objects-by-status gauge with counts.
func (m *Metrics) SetObjects(counts map[string]int) {
	m.Objects.Reset()
	for status, n := range counts {
		m.Objects.WithLabelValues(status).Set(float64(n))
	}
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}
