package ui

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/envctl/envctl/internal/syncstate"
)

// status tells a loop that converged from one that is failing, and says
// what the failing one does about it; it lists the conflicts and the
// objects whose fight was given up.
func TestWriteSyncTellsFailingFromConverged(t *testing.T) {
	base := syncstate.Status{Environment: "dev", Holder: "envctl daemon (pid 1 on pod, 0a1b2c3d)", Running: true, DriftMode: "correct",
		LastAppliedRevision: "main@sha1:aaa", LastAttemptedRevision: "main@sha1:bbb"}
	tests := []struct {
		name   string
		change func(*syncstate.Status)
		want   []string
	}{
		{"converged", func(s *syncstate.Status) {
			s.State, s.LastAttemptedRevision = syncstate.StateConverged, s.LastAppliedRevision
		}, []string{"  state:           converged\n"}},
		{"retrying", func(s *syncstate.Status) {
			s.State, s.Failures, s.NextAttemptAt = syncstate.StateRetrying, 2, time.Now().Add(4*time.Second+300*time.Millisecond)
			s.LastError, s.LastErrorKind = "fetch index of chart repository http://charts: 503 Service Unavailable", "internal"
		}, []string{"  state:           failing (internal error, 2 attempts in a row); retrying with backoff, next attempt in 4s\n",
			"  last error:      fetch index of chart repository http://charts: 503 Service Unavailable\n"}},
		{"blocked", func(s *syncstate.Status) {
			s.State, s.LastError, s.LastErrorKind = syncstate.StateBlocked, "kustomize build overlays/app: missing", "input"
		}, []string{"  state:           failing: the revision does not render (bad input); not retried until the source moves or envctl reconcile asks\n"}},
		{"conflicts and fights given up", func(s *syncstate.Status) {
			s.State, s.DriftDetected, s.DriftCorrected, s.Fights, s.DriftConflicts = syncstate.StateConverged, 12, 10, 1, 1
			s.LeftAlone = []string{"Deployment ml/web: fought with hpa-controller; left alone after 10 corrections in a row, until a new revision or envctl reconcile"}
		}, []string{"  drift (correct):  12 detected, 10 corrected, 1 fight, 1 conflict (labelled for another environment, not corrected)\n",
			"  left alone:      Deployment ml/web: fought with hpa-controller; left alone after 10 corrections in a row, until a new revision or envctl reconcile\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := base
			tt.change(&st)
			var b bytes.Buffer
			writeSync(&b, &syncstate.Report{Status: st, Alive: true})
			for _, w := range tt.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("status does not say %q:\n%s", w, b.String())
				}
			}
		})
	}
	// A loop that no longer runs has no state to tell.
	var b bytes.Buffer
	st := base
	st.State = syncstate.StateRetrying
	writeSync(&b, &syncstate.Report{Status: st})
	if strings.Contains(b.String(), "state:") {
		t.Errorf("a stopped loop's status shows a state:\n%s", b.String())
	}
}
