package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/lease"
	"github.com/envctl/envctl/internal/syncstate"
)

// syncReport is what status shows of an environment's sync or daemon.
type syncReport struct {
	syncstate.Status
	// Alive says the loop runs now: its record says so and it holds the
	// environment's lock. A killed loop leaves Running set; its lock tells.
	Alive bool `json:"alive"`
	// Lock is the environment's lock as it stands, held by the loop or by
	// another writer (an up in progress).
	Lock *lease.Info `json:"lock,omitempty"`
}

// readSyncReport reads env's sync record and lock; nil when no sync or
// daemon ever ran for it.
func readSyncReport(ctx context.Context, client kubernetes.Interface, env string) (*syncReport, error) {
	cm, err := (&syncstate.Store{Client: client}).Get(ctx, env)
	if err != nil {
		return nil, err
	}
	st, err := syncstate.StatusOf(cm)
	if err != nil {
		return nil, errs.Cluster(err)
	}
	if st == nil {
		return nil, nil
	}
	lock, err := lease.Get(ctx, client, env)
	if err != nil {
		return nil, err
	}
	r := &syncReport{Status: *st, Lock: lock}
	r.Alive = st.Running && lock != nil && lock.Holder == st.Holder && lock.Held(time.Now())
	return r, nil
}

func printSync(w io.Writer, s *syncReport) {
	ago := func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return fmt.Sprintf("%s (%s ago)", t.Local().Format(time.DateTime), round(time.Since(t)))
	}
	if !s.Alive {
		when := ""
		if !s.StoppedAt.IsZero() {
			when = ", stopped " + ago(s.StoppedAt)
		} else if s.Running {
			when = ", stopped without saying so (killed?)"
		}
		fmt.Fprintf(w, "Sync: not running (last: %s%s)\n", s.Holder, when)
	} else {
		fmt.Fprintf(w, "Sync: %s, reconciling since %s\n", s.Holder, ago(s.Since))
	}
	fmt.Fprintf(w, "  source:          %s\n", s.Source)
	fmt.Fprintf(w, "  last applied:    %s at %s\n", orNone(s.LastAppliedRevision), ago(s.LastAppliedAt))
	if s.LastAttemptedRevision != s.LastAppliedRevision || s.LastError != "" {
		fmt.Fprintf(w, "  last attempted:  %s at %s\n", orNone(s.LastAttemptedRevision), ago(s.LastAttemptAt))
	}
	if s.LastError != "" {
		fmt.Fprintf(w, "  last error:      %s\n", indent(s.LastError))
	}
	fmt.Fprintf(w, "  drift (%s):  %d detected, %d corrected, %d %s\n", s.DriftMode, s.DriftDetected, s.DriftCorrected, s.Fights, pluralWord(s.Fights, "fight"))
	if s.LastDrift != "" {
		fmt.Fprintf(w, "  last drift:      %s at %s\n", s.LastDrift, ago(s.LastDriftAt))
	}
	susp := "no"
	if s.Suspended {
		susp = "yes (envctl resume " + s.Environment + " restarts it)"
	}
	fmt.Fprintf(w, "  suspended:       %s\n", susp)
	if s.Lock != nil && s.Lock.Held(time.Now()) && s.Lock.Holder != s.Holder {
		fmt.Fprintf(w, "  lock held by:    %s since %s\n", s.Lock.Holder, ago(s.Lock.Since))
	}
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func pluralWord(n int64, noun string) string {
	if n == 1 {
		return noun
	}
	return noun + "s"
}
