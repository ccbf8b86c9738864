package kube

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/envctl/envctl/internal/errs"
)

// FieldConflict is one field that another manager owns.
type FieldConflict struct {
	// Field is the path of the field, as the server writes it (".spec.replicas").
	Field string
	// Manager is the other field manager, with its subresource if any.
	Manager string
}

// ConflictError reports fields of an object owned by other managers, which
// an apply without ForceConflicts does not take over.
type ConflictError struct {
	// Verb is the request that met the conflict: "apply", "dry-run".
	Verb      string
	Object    string
	Conflicts []FieldConflict
}

func (e *ConflictError) Error() string {
	var parts []string
	for _, c := range e.Conflicts {
		parts = append(parts, fmt.Sprintf("%s is owned by %s", c.Field, c.Manager))
	}
	return fmt.Sprintf("%s %s: conflict: %s; take the fields over with --force-conflicts (apply.forceConflicts), or stop the other manager changing them",
		e.Verb, e.Object, strings.Join(parts, ", "))
}

// ImmutableError reports a change to fields that cannot change once set.
type ImmutableError struct {
	// Verb is the request the server refused: "apply", "dry-run".
	Verb   string
	Object string
	Fields []string
}

func (e *ImmutableError) Error() string {
	noun := "field"
	if len(e.Fields) > 1 {
		noun = "fields"
	}
	return fmt.Sprintf("%s %s: %s %s cannot be changed (immutable); rerun with --force-recreate, or annotate the object %s: \"true\", to delete and recreate it",
		e.Verb, e.Object, noun, strings.Join(e.Fields, ", "), ForceRecreateAnnotation)
}

// immutableMarkers are the phrases the API server's validation uses for
// fields that cannot change after creation.
var immutableMarkers = []string{
	"field is immutable",
	"may not change once set",
	"updates to statefulset spec for fields other than",
	"are forbidden",
	"may not change fields other than",
}

// immutableFields returns the fields an Invalid error says are immutable.
func immutableFields(err error) []string {
	var status apierrors.APIStatus
	if !errors.As(err, &status) || !apierrors.IsInvalid(err) {
		return nil
	}
	details := status.Status().Details
	if details == nil {
		return nil
	}
	var fields []string
	for _, c := range details.Causes {
		for _, m := range immutableMarkers {
			if strings.Contains(c.Message, m) {
				f := c.Field
				if f == "" {
					f = "spec"
				}
				fields = append(fields, f)
				break
			}
		}
	}
	sort.Strings(fields)
	return fields
}

var conflictManager = regexp.MustCompile(`conflict with ("[^"]*"(?: with subresource "[^"]*")?)`)

// fieldConflicts returns the fields of an apply conflict error.
func fieldConflicts(err error) []FieldConflict {
	var status apierrors.APIStatus
	if !errors.As(err, &status) || !apierrors.IsConflict(err) {
		return nil
	}
	details := status.Status().Details
	if details == nil {
		return nil
	}
	var out []FieldConflict
	for _, c := range details.Causes {
		if c.Type != metav1.CauseTypeFieldManagerConflict {
			continue
		}
		manager := "another manager"
		if m := conflictManager.FindStringSubmatch(c.Message); m != nil {
			manager = m[1]
		}
		out = append(out, FieldConflict{Field: c.Field, Manager: manager})
	}
	return out
}

// ClassifyError turns the error of a request (verb: "apply", "dry-run",
// "delete") about obj into an error that names the object, says what the
// user can do, and is classified for the exit code. object is how messages
// name obj ("Deployment.apps ml/web", with its component where the caller
// knows it). The server's text is left out for Secrets, since validation
// messages may quote the rejected value; the reason and field paths remain.
// apply and plan share it so that the same server answer reads the same in
// envctl apply and envctl diff.
func ClassifyError(ctx context.Context, verb, object string, obj *unstructured.Unstructured, err error) error {
	name := object
	if ctxErr := ctx.Err(); ctxErr != nil {
		if errors.Is(ctxErr, context.DeadlineExceeded) {
			return errs.Timeout(fmt.Errorf("%s %s: %w", verb, name, ctxErr))
		}
		return fmt.Errorf("%s %s: %w", verb, name, ctxErr)
	}
	var fence *FencedError
	if errors.As(err, &fence) {
		return errs.Cluster(fmt.Errorf("%s %s: not sent: %w", verb, name, fence.Err))
	}
	if c := fieldConflicts(err); len(c) > 0 {
		return errs.Conflict(&ConflictError{Verb: verb, Object: name, Conflicts: c})
	}
	if f := immutableFields(err); len(f) > 0 {
		return errs.Conflict(&ImmutableError{Verb: verb, Object: name, Fields: f})
	}
	msg := serverMessage(err, IsSecret(obj))
	switch {
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err), apierrors.IsUnsupportedMediaType(err):
		return errs.Input(fmt.Errorf("%s %s: %s", verb, name, msg))
	case apierrors.IsNotFound(err):
		// Almost always the namespace: the manifests use one they do not declare.
		return errs.Input(fmt.Errorf("%s %s: %s (is its namespace declared?)", verb, name, msg))
	case apierrors.IsConflict(err):
		return errs.Conflict(fmt.Errorf("%s %s: %s", verb, name, msg))
	default:
		return errs.Cluster(fmt.Errorf("%s %s: %s", verb, name, msg))
	}
}

// serverMessage is the text of an API error. For a Secret it keeps only the
// reason and the paths of the offending fields.
func serverMessage(err error, secret bool) string {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		if secret {
			return "request failed (details withheld for a Secret)"
		}
		return err.Error()
	}
	if !secret {
		return status.Status().Message
	}
	st := status.Status()
	msg := string(st.Reason)
	if msg == "" {
		msg = fmt.Sprintf("HTTP %d", st.Code)
	}
	if st.Details != nil {
		var fields []string
		for _, c := range st.Details.Causes {
			if c.Field != "" {
				fields = append(fields, fmt.Sprintf("%s (%s)", c.Field, c.Type))
			}
		}
		if len(fields) > 0 {
			msg += ": " + strings.Join(fields, ", ")
		}
	}
	return msg + " (server message withheld for a Secret)"
}

// IsSecret reports whether obj is a core Secret, whose values must never be
// shown.
func IsSecret(obj *unstructured.Unstructured) bool {
	if obj == nil {
		return false
	}
	gvk := obj.GroupVersionKind()
	return gvk.Group == "" && gvk.Kind == "Secret"
}
