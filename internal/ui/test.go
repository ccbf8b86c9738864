package ui

import (
	"fmt"
	"io"

	"github.com/envctl/envctl/internal/engine"
)

// TestReport is what `envctl test -o json` prints.
type TestReport struct {
	Environment string `json:"environment"`
	// Simulated says that the cluster runs no containers (the embedded
	// cluster), so a test's outcome is simulated.
	Simulated bool                `json:"simulated"`
	Passed    bool                `json:"passed"`
	Tests     []engine.TestResult `json:"tests"`
}

// TestEvents prints each chart test as it ends.
func TestEvents(out io.Writer) func(engine.Event) {
	return func(e engine.Event) {
		if e.Type != engine.HookDone {
			return
		}
		if e.Err == nil {
			fmt.Fprintf(out, "✓ %s: %s passed\n", e.Component, e.Object)
		} else {
			fmt.Fprintf(out, "✗ %s: %s failed: %s\n", e.Component, e.Object, FirstLine(e.Err.Error()))
		}
	}
}

// WriteTests prints the report: as JSON, or how many tests passed.
func WriteTests(w io.Writer, format string, r *TestReport) error {
	if IsData(format) {
		return WriteData(w, format, r)
	}
	passed := 0
	for _, t := range r.Tests {
		if t.Passed {
			passed++
		}
	}
	if len(r.Tests) == 0 {
		fmt.Fprintf(w, "Environment %s has no chart tests.\n", r.Environment)
	} else {
		fmt.Fprintf(w, "Environment %s: %d of %s passed.\n", r.Environment, passed, Plural(len(r.Tests), "test"))
	}
	return nil
}
