package cli

import (
	"errors"

	"github.com/envctl/envctl/internal/errs"
)

// Exit codes. A CI job can tell bad input from a cluster that would not
// become healthy from a timeout without parsing messages.
const (
	ExitOK = 0
	// ExitFailure is an internal error, or `envctl diff` finding changes.
	ExitFailure = 1
	// ExitInput is bad input: flags, configuration, manifests, paths.
	ExitInput = 2
	// ExitUnhealthy is state that was applied but did not become ready.
	ExitUnhealthy = 3
	// ExitTimeout is a deadline that passed.
	ExitTimeout = 4
	// ExitConflict is a field-ownership or immutable-field conflict.
	ExitConflict = 5
	// ExitCluster is a cluster that could not be reached or refused a request.
	ExitCluster = 6
)

// exitError carries an explicit exit code with no message of its own, for
// commands such as diff whose exit code is their result.
type exitError struct{ code int }

func (e *exitError) Error() string { return "" }

// ExitCode maps an error returned by a command to the process exit code.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	switch errs.KindOf(err) {
	case errs.KindInput:
		return ExitInput
	case errs.KindUnhealthy:
		return ExitUnhealthy
	case errs.KindTimeout:
		return ExitTimeout
	case errs.KindConflict:
		return ExitConflict
	case errs.KindCluster:
		return ExitCluster
	default:
		return ExitFailure
	}
}
