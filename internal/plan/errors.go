package plan

import (
	"context"
	"errors"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/envctl/envctl/internal/errs"
)

// classify turns the error of a request about o into one that names the
// object and its component and is classified for the exit code. For a
// Secret the server's message is withheld, since validation messages may
// quote the rejected value; the reason and field paths remain.
func classify(ctx context.Context, o *object, err error) error {
	what := fmt.Sprintf("dry-run %s (component %s)", o.item.Ref, o.component)
	if ctxErr := ctx.Err(); ctxErr != nil {
		if errors.Is(ctxErr, context.DeadlineExceeded) {
			return errs.Timeout(fmt.Errorf("%s: %w", what, ctxErr))
		}
		return fmt.Errorf("%s: %w", what, ctxErr)
	}
	msg := serverMessage(err, IsSecret(o.obj))
	switch {
	case apierrors.IsConflict(err):
		return errs.Conflict(fmt.Errorf("%s: %s; the apply would fail unless run with --force-conflicts", what, msg))
	case apierrors.IsNotFound(err):
		// Almost always the namespace: the manifests use one they do not declare.
		return errs.Input(fmt.Errorf("%s: %s (is its namespace declared?)", what, msg))
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err):
		return errs.Input(fmt.Errorf("%s: %s", what, msg))
	default:
		return errs.Cluster(fmt.Errorf("%s: %s", what, msg))
	}
}

// serverMessage is the text of an API error, or for a Secret only its
// reason and the paths of the offending fields.
func serverMessage(err error, secret bool) string {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		if secret {
			return "request failed (details withheld for a Secret)"
		}
		return err.Error()
	}
	st := status.Status()
	if !secret {
		return st.Message
	}
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
