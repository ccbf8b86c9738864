package ui

import (
	"fmt"
	"io"

	"github.com/envctl/envctl/internal/syncstate"
)

// WriteReconciled prints the answer to `envctl reconcile`: as JSON, or a
// line when the reconcile succeeded (a failure is the command's error).
func WriteReconciled(w io.Writer, format, env string, a *syncstate.Answer) error {
	if IsData(format) {
		return WriteData(w, format, a)
	}
	if a.Succeeded {
		fmt.Fprintf(w, "environment %s reconciled at revision %s\n", env, a.Revision)
	}
	return nil
}

// WriteSuspended prints what `envctl suspend` (suspend) or `resume` did:
// as JSON, or a line; st is the loop that acknowledged, nil when none runs.
func WriteSuspended(w io.Writer, format, env string, suspend bool, st *syncstate.Status) error {
	if IsData(format) {
		report := map[string]any{"environment": env, "suspended": suspend, "acknowledged": st != nil}
		if st != nil {
			report["holder"] = st.Holder
		}
		return WriteData(w, format, report)
	}
	verb := "resumed"
	if suspend {
		verb = "suspended"
	}
	if st != nil {
		fmt.Fprintf(w, "environment %s %s (acknowledged by %s)\n", env, verb, st.Holder)
	} else {
		fmt.Fprintf(w, "environment %s %s; no sync or daemon runs now, the next one starts %s\n", env, verb, verb)
	}
	return nil
}
