// Package errs classifies errors by what the user has to do about them, so
// that the CLI can map each class to an exit code in one place.
package errs

import (
	"errors"
	"fmt"
	"strings"
)

// Kind is the class of an error as the user sees it.
type Kind int

// Error kinds, from the most to the least specific fault of the user.
const (
	// KindUnknown is any error not classified below: an internal failure.
	KindUnknown Kind = iota
	// KindInput is bad input: configuration, manifests, flags, paths.
	KindInput
	// KindTimeout is a deadline that passed before the work finished.
	KindTimeout
	// KindConflict is a field owned by another manager, or an immutable field.
	KindConflict
	// KindCluster is a cluster that cannot be reached or refused a request.
	KindCluster
	// KindUnhealthy is declared state that was applied but did not become ready.
	KindUnhealthy
)

func (k Kind) String() string {
	switch k {
	case KindInput:
		return "input"
	case KindTimeout:
		return "timeout"
	case KindConflict:
		return "conflict"
	case KindCluster:
		return "cluster"
	case KindUnhealthy:
		return "unhealthy"
	default:
		return "internal"
	}
}

// Error carries a Kind alongside the error it classifies.
type Error struct {
	Kind Kind
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// New wraps err as kind. A nil err gives nil.
func New(kind Kind, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: kind, Err: err}
}

// Input classifies err as bad input.
func Input(err error) error { return New(KindInput, err) }

// Inputf formats a bad-input error.
func Inputf(format string, args ...any) error { return Input(fmt.Errorf(format, args...)) }

// Timeout classifies err as a deadline that passed.
func Timeout(err error) error { return New(KindTimeout, err) }

// Conflict classifies err as a field ownership or immutability conflict.
func Conflict(err error) error { return New(KindConflict, err) }

// Cluster classifies err as a failure to reach or use the cluster.
func Cluster(err error) error { return New(KindCluster, err) }

// Unhealthy classifies err as objects that did not become ready.
func Unhealthy(err error) error { return New(KindUnhealthy, err) }

// KindOf returns the kind of the outermost classified error in err's chain.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindUnknown
}

// Objects joins the errors of the objects of one run: nil for none, the
// error itself for one, and for several one error that lists them under
// "N objects <problem>:", one per line. It unwraps to each, so KindOf
// classifies the whole by the first and the exit code follows the first
// problem reported.
func Objects(problem string, list []error) error {
	switch len(list) {
	case 0:
		return nil
	case 1:
		return list[0]
	}
	return &objectsError{problem: problem, errs: list}
}

// objectsError is the error of several objects.
type objectsError struct {
	problem string
	errs    []error
}

func (e *objectsError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d objects %s:", len(e.errs), e.problem)
	for _, err := range e.errs {
		b.WriteString("\n  " + strings.ReplaceAll(err.Error(), "\n", "\n  "))
	}
	return b.String()
}

func (e *objectsError) Unwrap() []error { return e.errs }

// Retryable says whether trying the same input again may succeed: false
// only when every failure err holds is bad input, which stays bad until
// the input changes. Network, registry, cluster, timeout and unhealthy
// failures, and failures not classified at all (a fetch that could not
// connect), may pass. A failure wrapped whole as bad input is bad input,
// whatever it wraps.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	switch u := err.(type) {
	case *Error:
		return u.Kind != KindInput
	case interface{ Unwrap() []error }:
		for _, c := range u.Unwrap() {
			if Retryable(c) {
				return true
			}
		}
		return false
	case interface{ Unwrap() error }:
		if inner := u.Unwrap(); inner != nil {
			return Retryable(inner)
		}
	}
	return true
}
