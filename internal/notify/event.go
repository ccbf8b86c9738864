// Package notify tells people what the continuous reconcile loop (envctl
// sync and envctl daemon) did: Kubernetes Events on the environment's sync
// record, and, when the operator configures them, commit statuses on
// GitHub or GitLab, a signed JSON webhook and Slack-compatible incoming
// webhooks.
//
// Every target and every token comes from the operator (flags, their
// environment variables, the daemon's Secret), never from the repository
// the loop applies. A notification that fails is logged and retried with
// bounded backoff in the background; it never fails or delays a reconcile.
// Repeats of one state are sent once per repeat interval.
package notify

import (
	"fmt"
	"strings"
	"time"
)

// Kind is what an Event reports.
type Kind string

// Kinds of events.
const (
	// Progressing: a full reconcile of a new revision started (commit
	// statuses go pending); no Kubernetes Event.
	Progressing Kind = "progressing"
	// Reconciled: a revision was applied and became healthy.
	Reconciled Kind = "reconciled"
	// Failed: a fetch, render or reconcile failed; Component and Reason
	// say where and why when a component failed.
	Failed Kind = "failed"
	// DriftCorrected: an object changed outside envctl was put back.
	DriftCorrected Kind = "drift-corrected"
	// Fight: another writer keeps undoing a correction.
	Fight Kind = "fight"
	// PruneHeld: a prune guard kept objects the revision no longer
	// declares.
	PruneHeld Kind = "prune-held"
)

// Kubernetes Event reasons, CamelCase as Kubernetes writes them.
const (
	ReasonReconciled      = "Reconciled"
	ReasonReconcileFailed = "ReconcileFailed"
	ReasonRenderFailed    = "RenderFailed"
	ReasonFetchFailed     = "FetchFailed"
	ReasonDriftCorrected  = "DriftCorrected"
	ReasonFight           = "DriftFight"
	ReasonFightGivenUp    = "DriftFightGivenUp"
	ReasonPruneHeld       = "PruneHeld"
	ReasonProgressing     = "Progressing"
)

// Event is one thing the loop reports.
type Event struct {
	Kind        Kind   `json:"kind"`
	Environment string `json:"environment"`
	// Revision is the source revision concerned ("main@sha1:…").
	Revision string `json:"revision,omitempty"`
	// Component and Object narrow it down, when they apply.
	Component string `json:"component,omitempty"`
	Object    string `json:"object,omitempty"`
	// Reason is the Kubernetes Event reason (ReasonReconciled, …).
	Reason string `json:"reason"`
	// Message is a sentence for people.
	Message string    `json:"message"`
	Time    time.Time `json:"time"`
}

// Warning says whether the event reports a problem.
func (e Event) Warning() bool {
	switch e.Kind {
	case Failed, Fight, PruneHeld:
		return true
	}
	return false
}

// key identifies the state an event reports, for the repeat limit.
func (e Event) key() string {
	return strings.Join([]string{string(e.Kind), e.Environment, e.Revision, e.Component, e.Object, e.Reason}, "\x00")
}

// stream groups the events whose states replace each other: a revision's
// progress and outcome, or one object's drift. A new state of a stream is
// always sent; the same state again only after the repeat interval.
func (e Event) stream() string {
	switch e.Kind {
	case Progressing, Reconciled, Failed:
		return "revision\x00" + e.Environment + "\x00" + e.Revision
	}
	return e.key()
}

// Commit is the Git commit hash in the revision, "" when it names none
// (a local directory's content hash).
func (e Event) Commit() string {
	rev := e.Revision
	if i := strings.LastIndex(rev, "@"); i >= 0 {
		rev = rev[i+1:]
	}
	for _, p := range []string{"sha1:", "sha256:"} {
		if h, ok := strings.CutPrefix(rev, p); ok && isHex(h) && (len(h) == 40 || len(h) == 64) {
			return h
		}
	}
	return ""
}

func isHex(s string) bool {
	for _, r := range s {
		if !strings.ContainsRune("0123456789abcdef", r) {
			return false
		}
	}
	return s != ""
}

// shortRevision shortens the hash of a revision for a line of text.
func shortRevision(rev string) string {
	i := strings.LastIndex(rev, ":")
	if i < 0 || len(rev)-i-1 <= 12 {
		return rev
	}
	return rev[:i+1+12]
}

// Summary is a one-line account of e for people: Slack, commit status
// descriptions.
func (e Event) Summary() string {
	s := fmt.Sprintf("envctl %s: %s", e.Environment, e.Message)
	if e.Revision != "" && !strings.Contains(e.Message, e.Revision) {
		s += " (" + shortRevision(e.Revision) + ")"
	}
	return s
}
