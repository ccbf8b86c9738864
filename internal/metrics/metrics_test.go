package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Every reconcile metric carries the environment, the per-component ones
// the component too, and the whole reconcile is not a phase: a sum over
// the phase histogram counts each second once.
func TestReconcileMetricsLabels(t *testing.T) {
	m := New("staging")
	m.ObservePhase(PhaseFetch, 1)
	m.ObservePhase(PhaseRender, 2)
	m.ObservePhase(PhaseApply, 3)
	m.ObservePhase(PhasePrune, 4)
	m.ObserveReconcile(10)
	m.ObserveComponent("db", "healthy", 2.5)
	m.ObserveComponent("web", "skipped", -1)
	m.Reconciled(ResultSuccess)
	m.DriftFound("web", "Deployment")

	phases, err := testutil.GatherAndCount(m.Registry, "envctl_reconcile_phase_duration_seconds")
	if err != nil || phases != 4 {
		t.Fatalf("phase series = %d (%v), want 4: fetch, render, apply, prune", phases, err)
	}
	sum := 0.0
	for _, p := range []string{PhaseFetch, PhaseRender, PhaseApply, PhasePrune} {
		sum += sampleSum(t, m, "envctl_reconcile_phase_duration_seconds", `phase="`+p+`"`)
	}
	if sum != 10 {
		t.Errorf("sum over phases = %v, want 10", sum)
	}
	if got := sampleSum(t, m, "envctl_reconcile_duration_seconds", `environment="staging"`); got != 10 {
		t.Errorf("reconcile duration sum = %v, want 10", got)
	}
	if got := testutil.ToFloat64(m.ComponentReconciles.WithLabelValues("staging", "db", "healthy")); got != 1 {
		t.Errorf("component db healthy = %v, want 1", got)
	}
	if n, _ := testutil.GatherAndCount(m.Registry, "envctl_component_reconcile_duration_seconds"); n != 1 {
		t.Errorf("component duration series = %d, want 1 (a skipped component has no duration)", n)
	}
	if got := testutil.ToFloat64(m.Reconciles.WithLabelValues("staging", ResultSuccess)); got != 1 {
		t.Errorf("reconciles success = %v", got)
	}
	if got := testutil.ToFloat64(m.DriftDetected.WithLabelValues("staging", "web", "Deployment")); got != 1 {
		t.Errorf("drift detected = %v", got)
	}
}

// sampleSum is the _sum of the histogram series of name whose labels
// include match.
func sampleSum(t *testing.T, m *Metrics, name, match string) float64 {
	t.Helper()
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, mt := range f.GetMetric() {
			var labels []string
			for _, lp := range mt.GetLabel() {
				labels = append(labels, lp.GetName()+`="`+lp.GetValue()+`"`)
			}
			if strings.Contains(strings.Join(labels, ","), match) {
				return mt.GetHistogram().GetSampleSum()
			}
		}
	}
	return 0
}
