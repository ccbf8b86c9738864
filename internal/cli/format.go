package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/envctl/envctl/internal/engine"
)

// The wording of counts, durations and errors that progress lines and
// summaries share.

// countsText is a component's outcome: "1 created, 0 changed, 3 unchanged".
func countsText(c engine.Counts) string {
	s := fmt.Sprintf("%d created, %d changed, %d unchanged", c.Created, c.Changed(), c.Unchanged)
	if c.Pruned > 0 {
		s += fmt.Sprintf(", %d pruned", c.Pruned)
	}
	return s
}

// round shows a component's or a run's time to a tenth of a second (a
// hundredth under one second), precise enough to compare runs.
func round(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(10 * time.Millisecond)
	}
	return d.Round(100 * time.Millisecond)
}

// roundDuration shows a step's time the way a person reads it: "1.5s",
// "42s", "2m".
func roundDuration(d time.Duration) string {
	switch {
	case d < 10*time.Second:
		return d.Round(100 * time.Millisecond).String()
	case d < time.Minute:
		return d.Round(time.Second).String()
	}
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s") // 2m rather than 2m0s
	}
	return s
}

// firstLine is what fits a progress line of a multi-line error.
func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// errString is err's message, or "" for nil.
func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// truncate cuts s to n runes, ending in "…" when it cut.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// plural writes "1 object" or "3 objects".
func plural(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
