// Package health waits until applied objects are ready, judged by kstatus
// (sigs.k8s.io/cli-utils/pkg/kstatus) rather than per-kind checks of envctl's
// own, and says why when they are not: for each object that is not Current,
// its status, message, abnormal conditions and the latest Warning event about
// it or the pods it owns.
package health

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"

	"github.com/envctl/envctl/internal/kube"
	"github.com/envctl/envctl/internal/object"
)

// Checker waits for objects of one cluster.
type Checker struct {
	client *kube.Client
	log    *slog.Logger
}

// NewChecker returns a Checker reading through client.
func NewChecker(client *kube.Client, logger *slog.Logger) *Checker {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Checker{client: client, log: logger}
}

// Mode says what ready means.
type Mode int

const (
	// Ready is kstatus Current: the object's controller has caught up and
	// reports it available.
	Ready Mode = iota
	// Complete is stricter, for Helm hooks, which must have run before the
	// next phase: a Job must have completed and a Pod must have succeeded
	// (kstatus calls a running Job Current).
	Complete
)

// Options configure one wait.
type Options struct {
	// Timeout bounds the wait; it ends with an errs.Timeout error.
	Timeout time.Duration
	// Selector, when set, lets the wait read pending objects with one LIST
	// per kind rather than a GET per object.
	Selector string
	// Mode is Ready unless waiting for hooks.
	Mode Mode
	// MaxInterval caps the time between polls; the first polls come faster.
	MaxInterval time.Duration
	// OnWaiting, when set, is called with the objects still pending
	// whenever that set or their messages change.
	OnWaiting func(pending []ObjectStatus)
}

// DefaultOptions waits up to five minutes, polling at most every 2 s.
func DefaultOptions() Options {
	return Options{Timeout: 5 * time.Minute, MaxInterval: 2 * time.Second}
}

// Condition is one status condition worth reporting.
type Condition struct {
	Type    string `json:"type"`
	Status  string `json:"status"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// ObjectStatus is the health of one object.
type ObjectStatus struct {
	Ref     object.Ref     `json:"ref"`
	Status  kstatus.Status `json:"status"`
	Message string         `json:"message,omitempty"`
	// Conditions are the object's abnormal conditions, for objects that are
	// not Current.
	Conditions []Condition `json:"conditions,omitempty"`
	// Event is the latest Warning event about the object or its pods, for
	// objects that are not Current: "FailedScheduling: 0/2 nodes are available".
	Event string `json:"event,omitempty"`
}

// String renders the status the way a report line reads:
// "Deployment.apps ml/web: InProgress: Available: 0/2; condition
// Available=False (MinimumReplicasUnavailable); event FailedScheduling: ...".
func (s ObjectStatus) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", s.Ref, s.Status)
	if s.Message != "" {
		b.WriteString(": " + s.Message)
	}
	for _, c := range s.Conditions {
		fmt.Fprintf(&b, "; condition %s=%s", c.Type, c.Status)
		switch {
		case c.Reason != "" && c.Message != "":
			fmt.Fprintf(&b, " (%s: %s)", c.Reason, c.Message)
		case c.Reason != "":
			fmt.Fprintf(&b, " (%s)", c.Reason)
		case c.Message != "":
			fmt.Fprintf(&b, " (%s)", c.Message)
		}
	}
	if s.Event != "" {
		b.WriteString("; event " + s.Event)
	}
	return b.String()
}

// Report is the outcome of a wait.
type Report struct {
	// Objects holds every object waited on, in the order given.
	Objects []ObjectStatus `json:"objects"`
	// Elapsed is how long the wait took.
	Elapsed time.Duration `json:"elapsed"`
}

// NotReady returns the objects that are not Current.
func (r *Report) NotReady() []ObjectStatus {
	var out []ObjectStatus
	for _, o := range r.Objects {
		if o.Status != kstatus.CurrentStatus {
			out = append(out, o)
		}
	}
	return out
}

// NotReadyError lists the objects that did not become ready.
type NotReadyError struct {
	// Reason says how the wait ended: "timed out after 2m0s" or "failed".
	Reason  string
	Objects []ObjectStatus
}

func (e *NotReadyError) Error() string {
	var b strings.Builder
	noun := "objects"
	if len(e.Objects) == 1 {
		noun = "object"
	}
	fmt.Fprintf(&b, "%s: %d %s not ready", e.Reason, len(e.Objects), noun)
	for _, o := range e.Objects {
		b.WriteString("\n  " + o.String())
	}
	return b.String()
}

// compute returns the status of obj as observed, in mode.
func compute(obj *unstructured.Unstructured, mode Mode) ObjectStatus {
	st := ObjectStatus{Ref: object.RefOf(obj)}
	if mode == Complete {
		if done, ok := completion(obj); ok {
			st.Status, st.Message = done.Status, done.Message
			return st
		}
	}
	res, err := kstatus.Compute(obj)
	if err != nil {
		st.Status = kstatus.UnknownStatus
		st.Message = err.Error()
		return st
	}
	st.Status, st.Message = res.Status, res.Message
	return st
}

// completion judges Jobs and Pods run as hooks, which must finish.
func completion(obj *unstructured.Unstructured) (*kstatus.Result, bool) {
	gvk := obj.GroupVersionKind()
	switch {
	case gvk.Group == "batch" && gvk.Kind == "Job":
		for _, c := range conditions(obj) {
			if c.Status != "True" {
				continue
			}
			switch c.Type {
			case "Complete":
				return &kstatus.Result{Status: kstatus.CurrentStatus, Message: "Job completed"}, true
			case "Failed":
				msg := "Job failed"
				if c.Reason != "" {
					msg += ": " + c.Reason
				}
				if c.Message != "" {
					msg += ": " + c.Message
				}
				return &kstatus.Result{Status: kstatus.FailedStatus, Message: msg}, true
			}
		}
		succeeded, _, _ := unstructured.NestedInt64(obj.Object, "status", "succeeded")
		active, _, _ := unstructured.NestedInt64(obj.Object, "status", "active")
		return &kstatus.Result{Status: kstatus.InProgressStatus, Message: fmt.Sprintf("Job running: %d active, %d succeeded", active, succeeded)}, true
	case gvk.Group == "" && gvk.Kind == "Pod":
		phase, _, _ := unstructured.NestedString(obj.Object, "status", "phase")
		switch phase {
		case "Succeeded":
			return &kstatus.Result{Status: kstatus.CurrentStatus, Message: "Pod succeeded"}, true
		case "Failed":
			return &kstatus.Result{Status: kstatus.FailedStatus, Message: "Pod failed"}, true
		}
		return &kstatus.Result{Status: kstatus.InProgressStatus, Message: "Pod phase " + phaseOr(phase)}, true
	}
	return nil, false
}

func phaseOr(p string) string {
	if p == "" {
		return "not reported"
	}
	return p
}

// conditions reads status.conditions of any kind.
func conditions(obj *unstructured.Unstructured) []Condition {
	items, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	out := make([]Condition, 0, len(items))
	for _, it := range items {
		m, ok := it.(map[string]any)
		if !ok {
			continue
		}
		c := Condition{}
		c.Type, _ = m["type"].(string)
		c.Status, _ = m["status"].(string)
		c.Reason, _ = m["reason"].(string)
		c.Message, _ = m["message"].(string)
		out = append(out, c)
	}
	return out
}

// negativeConditions are condition types whose True is the abnormal value.
var negativeConditions = map[string]bool{
	"Stalled": true, "Reconciling": true, "ReplicaFailure": true, "Failed": true,
	"Degraded": true, "Terminating": true, "FailureTarget": true,
}

// abnormal returns the conditions of obj that say something is wrong.
func abnormal(obj *unstructured.Unstructured) []Condition {
	var out []Condition
	for _, c := range conditions(obj) {
		bad := c.Status != "True"
		if negativeConditions[c.Type] {
			bad = c.Status == "True"
		}
		if bad {
			out = append(out, c)
		}
	}
	return out
}
