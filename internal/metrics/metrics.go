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

// Phases of a reconcile, as the phase duration histogram labels them. The
// whole reconcile is its own histogram (ReconcileDuration), so that a sum
// over the phases counts each second once.
const (
	PhaseFetch  = "fetch"
	PhaseRender = "render"
	// PhaseApply runs from the engine's start to the last component done:
	// apply, health wait and hooks.
	PhaseApply = "apply"
	// PhasePrune is prune and the inventory save.
	PhasePrune = "prune"
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

	// ReconcileDuration is the time of a whole reconcile, by environment;
	// PhaseDuration that of each phase.
	ReconcileDuration *prometheus.HistogramVec
	PhaseDuration     *prometheus.HistogramVec
	// ComponentDuration times each component's apply, health wait and
	// hooks; ComponentReconciles counts the components by final state.
	ComponentDuration   *prometheus.HistogramVec
	ComponentReconciles *prometheus.CounterVec
	// Reconciles counts reconciles by result.
	Reconciles *prometheus.CounterVec
	// DriftDetected and DriftCorrected count drifted objects by
	// environment, component and kind.
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
	// Notifications counts notifications by notifier and result.
	Notifications *prometheus.CounterVec
	// Webhooks counts webhook requests by result.
	Webhooks *prometheus.CounterVec
	// Leader is 1 while this process holds the environment's lock.
	Leader prometheus.Gauge
	// Suspended is 1 while the loop is suspended.
	Suspended prometheus.Gauge

	// env labels every reconcile metric.
	env string

	mu       sync.Mutex
	revision []string
}

// Label names of the reconcile metrics.
const (
	LabelEnvironment = "environment"
	LabelComponent   = "component"
)

var durationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}

// New makes the instruments of environment env's loop, registered with a
// new registry together with the Go runtime and process collectors
// (memory, CPU, file descriptors).
func New(env string) *Metrics {
	reg := prometheus.NewRegistry()
	envLabel := []string{LabelEnvironment}
	m := &Metrics{
		Registry: reg,
		env:      env,
		ReconcileDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "envctl_reconcile_duration_seconds",
			Help:    "Time of a whole reconcile, from the fetch to the inventory save.",
			Buckets: durationBuckets,
		}, envLabel),
		PhaseDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "envctl_reconcile_phase_duration_seconds",
			Help:    "Time of each phase of a reconcile: fetch, render, apply (apply, health wait and hooks), prune (prune and inventory save).",
			Buckets: durationBuckets,
		}, []string{LabelEnvironment, "phase"}),
		ComponentDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "envctl_component_reconcile_duration_seconds",
			Help:    "Time of each component's hooks, apply and health wait in a reconcile.",
			Buckets: durationBuckets,
		}, []string{LabelEnvironment, LabelComponent}),
		ComponentReconciles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "envctl_component_reconciles_total",
			Help: "Components reconciled, by the state they ended in: healthy, applied, failed, skipped.",
		}, []string{LabelEnvironment, LabelComponent, "state"}),
		Reconciles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "envctl_reconciles_total",
			Help: "Reconciles by result: success, failure (apply or health), render_error, fetch_error.",
		}, []string{LabelEnvironment, "result"}),
		DriftDetected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "envctl_drift_detected_total",
			Help: "Objects found changed or deleted outside envctl, by component and kind.",
		}, []string{LabelEnvironment, LabelComponent, "kind"}),
		DriftCorrected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "envctl_drift_corrected_total",
			Help: "Drifted objects put back, by component and kind.",
		}, []string{LabelEnvironment, LabelComponent, "kind"}),
		DriftLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:        "envctl_drift_correction_latency_seconds",
			Help:        "Time from the watch event that showed drift to the answer of the apply that corrected it.",
			Buckets:     []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2.5, 5, 10, 60, 300},
			ConstLabels: prometheus.Labels{LabelEnvironment: env},
		}),
		Fights: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "envctl_drift_fights_total",
			Help: "Objects whose corrections another writer kept undoing (corrections then back off), by component and kind.",
		}, []string{LabelEnvironment, LabelComponent, "kind"}),
		FetchDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:        "envctl_source_fetch_duration_seconds",
			Help:        "Time to learn the source's revision and fetch it when it moved.",
			Buckets:     []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
			ConstLabels: prometheus.Labels{LabelEnvironment: env},
		}),
		Fetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "envctl_source_fetches_total",
			Help: "Source fetches by result: success or error.",
		}, []string{LabelEnvironment, "result"}),
		AppliedRevision: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "envctl_applied_revision_info",
			Help: "1 for the source revision last applied successfully.",
		}, []string{LabelEnvironment, "revision"}),
		Objects: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "envctl_objects",
			Help: "Declared objects by health status (kstatus: Current, InProgress, Failed, ...) after the last reconcile.",
		}, []string{LabelEnvironment, "status"}),
		Notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "envctl_notifications_total",
			Help: "Notifications by notifier (github, gitlab, webhook, slack) and result: sent, failed, dropped, rate_limited.",
		}, []string{"notifier", "result"}),
		Webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "envctl_webhook_requests_total",
			Help: "Webhook requests by result: accepted, bad_signature, replayed, too_large, bad_request, disabled.",
		}, []string{"result"}),
		Leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name:        "envctl_leader",
			Help:        "1 while this process holds the environment's lock and reconciles it; 0 on a standby.",
			ConstLabels: prometheus.Labels{LabelEnvironment: env},
		}),
		Suspended: prometheus.NewGauge(prometheus.GaugeOpts{
			Name:        "envctl_suspended",
			Help:        "1 while the loop is suspended (envctl suspend).",
			ConstLabels: prometheus.Labels{LabelEnvironment: env},
		}),
	}
	reg.MustRegister(
		m.ReconcileDuration, m.PhaseDuration, m.ComponentDuration, m.ComponentReconciles,
		m.Reconciles, m.DriftDetected, m.DriftCorrected, m.DriftLatency, m.Fights,
		m.FetchDuration, m.Fetches, m.AppliedRevision, m.Objects, m.Notifications, m.Webhooks, m.Leader, m.Suspended,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	// Results show at zero from the start, so a dashboard's rate has a
	// series before the first of each.
	for _, r := range []string{ResultSuccess, ResultFailure, ResultRenderError, ResultFetchError} {
		m.Reconciles.WithLabelValues(env, r)
	}
	for _, r := range []string{WebhookAccepted, WebhookBadSignature, WebhookReplayed, WebhookTooLarge, WebhookBadRequest, WebhookDisabled} {
		m.Webhooks.WithLabelValues(r)
	}
	return m
}

// Environment is the environment the metrics are of.
func (m *Metrics) Environment() string { return m.env }

// Reconciled counts a reconcile with result.
func (m *Metrics) Reconciled(result string) { m.Reconciles.WithLabelValues(m.env, result).Inc() }

// ObservePhase records the time of one phase of a reconcile.
func (m *Metrics) ObservePhase(phase string, seconds float64) {
	m.PhaseDuration.WithLabelValues(m.env, phase).Observe(seconds)
}

// ObserveReconcile records the time of a whole reconcile.
func (m *Metrics) ObserveReconcile(seconds float64) {
	m.ReconcileDuration.WithLabelValues(m.env).Observe(seconds)
}

// ObserveComponent records how one component's reconcile went; a
// component that never started (skipped) has no duration (negative).
func (m *Metrics) ObserveComponent(component, state string, seconds float64) {
	if seconds >= 0 {
		m.ComponentDuration.WithLabelValues(m.env, component).Observe(seconds)
	}
	m.ComponentReconciles.WithLabelValues(m.env, component, state).Inc()
}

// Notified counts a notification's result.
func (m *Metrics) Notified(notifier, result string) {
	m.Notifications.WithLabelValues(notifier, result).Inc()
}

// Fetched counts a source fetch with result (success or error).
func (m *Metrics) Fetched(result string) { m.Fetches.WithLabelValues(m.env, result).Inc() }

// DriftFound counts a drifted object of a component.
func (m *Metrics) DriftFound(component, kind string) {
	m.DriftDetected.WithLabelValues(m.env, component, kind).Inc()
}

// DriftPutBack counts a corrected object.
func (m *Metrics) DriftPutBack(component, kind string) {
	m.DriftCorrected.WithLabelValues(m.env, component, kind).Inc()
}

// Fight counts an object another writer keeps undoing.
func (m *Metrics) Fight(component, kind string) {
	m.Fights.WithLabelValues(m.env, component, kind).Inc()
}

// SetAppliedRevision makes revision the one applied revision.
func (m *Metrics) SetAppliedRevision(revision string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.revision != nil {
		m.AppliedRevision.DeleteLabelValues(m.revision...)
	}
	m.revision = []string{m.env, revision}
	m.AppliedRevision.WithLabelValues(m.revision...).Set(1)
}

// SetObjects replaces the objects-by-status gauge with counts.
func (m *Metrics) SetObjects(counts map[string]int) {
	m.Objects.Reset()
	for status, n := range counts {
		m.Objects.WithLabelValues(m.env, status).Set(float64(n))
	}
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}
