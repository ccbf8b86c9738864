package ui

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/envctl/envctl/internal/engine"
	"github.com/envctl/envctl/internal/syncstate"
)

// StatusReport is what `envctl status -o json` prints.
type StatusReport struct {
	*engine.Health
	Cluster string `json:"cluster,omitempty"`
	// SourceRevision is the revision the source is at now; when it is not
	// Revision, the environment is behind its source.
	SourceRevision string `json:"sourceRevision,omitempty"`
	// Sync is the continuous reconcile of the environment (envctl sync or
	// daemon), when one ever ran.
	Sync *syncstate.Report `json:"sync,omitempty"`
}

// WriteStatus prints the report as JSON, or as a person reads it: the
// revision and when it was applied, the sync, then a table of every
// object's health.
func WriteStatus(w io.Writer, format string, r *StatusReport) error {
	if IsData(format) {
		return WriteData(w, format, r)
	}
	where := ""
	if r.Cluster != "" {
		where = " on cluster " + r.Cluster
	}
	rev := r.Revision
	if rev == "" {
		rev = "(unknown)"
	}
	fmt.Fprintf(w, "Environment %s%s: revision %s, applied %s (%s ago)\n",
		r.Environment, where, rev, r.AppliedAt.UTC().Format(time.RFC3339), time.Since(r.AppliedAt).Round(time.Second))
	if r.SourceRevision != "" && r.SourceRevision != r.Revision {
		fmt.Fprintf(w, "The source is now at %s, which is not applied yet.\n", r.SourceRevision)
	}
	fmt.Fprintln(w)
	if r.Sync != nil {
		writeSync(w, r.Sync)
		fmt.Fprintln(w)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "COMPONENT\tOBJECT\tSTATUS\tMESSAGE")
	for _, c := range r.Components {
		for i, ob := range c.Objects {
			name := c.Name
			if i > 0 {
				name = ""
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", name, ob.Ref, ob.Status, ob.Message)
		}
	}
	// The table is best effort: a failed write to the terminal changes
	// nothing about the command's outcome.
	_ = tw.Flush()
	return nil
}

// ago is when t was, in local time and how long ago; "never" for zero.
func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return fmt.Sprintf("%s (%s ago)", t.Local().Format(time.DateTime), Round(time.Since(t)))
}

// syncState says in a line whether the loop converged or is failing, and
// what it does about it; "" before its first attempt ended, or when it no
// longer runs.
func syncState(s *syncstate.Report) string {
	if !s.Alive {
		return ""
	}
	switch s.State {
	case syncstate.StateConverged:
		return "converged"
	case syncstate.StateRetrying:
		next := "now"
		if d := time.Until(s.NextAttemptAt); d > 0 {
			next = "in " + max(d.Round(time.Second), time.Second).String()
		}
		return fmt.Sprintf("failing (%s error, %s in a row); retrying with backoff, next attempt %s", orNone(s.LastErrorKind), Plural(s.Failures, "attempt"), next)
	case syncstate.StateBlocked:
		return "failing: the revision does not render (bad input); not retried until the source moves or envctl reconcile asks"
	}
	return ""
}

// writeSync prints the state of the environment's sync or daemon.
func writeSync(w io.Writer, s *syncstate.Report) {
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
	if st := syncState(s); st != "" {
		fmt.Fprintf(w, "  state:           %s\n", st)
	}
	fmt.Fprintf(w, "  last applied:    %s at %s\n", orNone(s.LastAppliedRevision), ago(s.LastAppliedAt))
	if s.LastAttemptedRevision != s.LastAppliedRevision || s.LastError != "" {
		fmt.Fprintf(w, "  last attempted:  %s at %s\n", orNone(s.LastAttemptedRevision), ago(s.LastAttemptAt))
	}
	if s.LastError != "" {
		fmt.Fprintf(w, "  last error:      %s\n", indent(s.LastError))
	}
	conflicts := ""
	if s.DriftConflicts > 0 {
		conflicts = fmt.Sprintf(", %d %s (labelled for another environment, not corrected)", s.DriftConflicts, pluralWord(s.DriftConflicts, "conflict"))
	}
	fmt.Fprintf(w, "  drift (%s):  %d detected, %d corrected, %d %s%s\n", s.DriftMode, s.DriftDetected, s.DriftCorrected, s.Fights, pluralWord(s.Fights, "fight"), conflicts)
	if s.LastDrift != "" {
		fmt.Fprintf(w, "  last drift:      %s at %s\n", s.LastDrift, ago(s.LastDriftAt))
	}
	for _, a := range s.LeftAlone {
		fmt.Fprintf(w, "  left alone:      %s\n", a)
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
