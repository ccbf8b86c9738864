// Package ui is how envctl shows results to a person or a script: the
// progress view of a run, the summaries, tables and plans the commands
// print, the JSON documents of -o json, and the loggers whose lines go
// beside them (apart from the progress view). It reads what the engine and
// the other stages return and never changes anything; the engine does not
// import it.
package ui

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/envctl/envctl/internal/engine"
)

// IsData says whether format is one of the data formats every command
// with -o json offers: json, and yaml, the same document.
func IsData(format string) bool { return format == "json" || format == "yaml" }

// WriteData writes v as format, json or yaml.
func WriteData(w io.Writer, format string, v any) error {
	if format == "yaml" {
		return WriteYAML(w, v)
	}
	return WriteJSON(w, v)
}

// WriteYAML writes v as YAML with the field names of its JSON form.
func WriteYAML(w io.Writer, v any) error {
	data, err := yaml.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(data)
	return err
}

// WriteJSON writes v as the indented JSON that `-o json` prints for scripts.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// CountsText is a component's outcome: "1 created, 0 changed, 3 unchanged".
func CountsText(c engine.Counts) string {
	s := fmt.Sprintf("%d created, %d changed, %d unchanged", c.Created, c.Changed(), c.Unchanged)
	if c.Pruned > 0 {
		s += fmt.Sprintf(", %d pruned", c.Pruned)
	}
	return s
}

// Round shows a component's or a run's time to a tenth of a second (a
// hundredth under one second), precise enough to compare runs.
func Round(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(10 * time.Millisecond)
	}
	return d.Round(100 * time.Millisecond)
}

// RoundDuration shows a step's time the way a person reads it: "1.5s",
// "42s", "2m".
func RoundDuration(d time.Duration) string {
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

// FirstLine is what fits a progress line of a multi-line error.
func FirstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// ErrString is err's message, or "" for nil.
func ErrString(err error) string {
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

// Plural writes "1 object" or "3 objects".
func Plural(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// pluralWord is noun, with an s unless n is 1.
func pluralWord(n int64, noun string) string {
	if n == 1 {
		return noun
	}
	return noun + "s"
}

// Sentence capitalises the first letter of s, for lines that print as
// sentences.
func Sentence(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// indent indents the lines of a multi-line message after its first.
func indent(s string) string { return strings.ReplaceAll(s, "\n", "\n  ") }

// orNone is s, or "(none)" when empty.
func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// dash is s, or "-" for an empty table cell.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// HolderName shortens a lock holder for messages: "envctl sync (pid 7 on
// host)" stays as it is; anything else is quoted.
func HolderName(h string) string {
	if strings.HasPrefix(h, "envctl ") {
		return h
	}
	return fmt.Sprintf("%q", h)
}
