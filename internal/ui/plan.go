package ui

import (
	"fmt"
	"io"
	"strings"

	"github.com/envctl/envctl/internal/object"
	"github.com/envctl/envctl/internal/plan"
)

// DiffItem is one entry of `envctl diff -o json`. Revision is the source
// revision the plan was computed from, the same in every entry.
type DiffItem struct {
	Ref       object.Ref  `json:"ref"`
	Component string      `json:"component,omitempty"`
	Action    plan.Action `json:"action"`
	Diff      string      `json:"diff,omitempty"`
	Note      string      `json:"note,omitempty"`
	Error     string      `json:"error,omitempty"`
	Revision  string      `json:"revision,omitempty"`
}

// WritePlan prints the plan to out (format text or json, the text in
// colour when color is set), and to errOut its warnings and a summary that
// names the source revision it was computed from.
func WritePlan(out, errOut io.Writer, p *plan.Plan, format string, color bool) error {
	for _, w := range p.Warnings {
		fmt.Fprintf(errOut, "Warning: %s\n", w)
	}
	if IsData(format) {
		items := make([]DiffItem, 0, len(p.Items))
		for _, it := range p.Items {
			items = append(items, DiffItem{Ref: it.Ref, Component: it.Component, Action: it.Action, Diff: it.Diff, Note: it.Note, Error: it.Error, Revision: p.Revision})
		}
		return WriteData(out, format, items)
	}
	for _, it := range p.Items {
		writePlanItem(out, it, color)
	}
	at := ""
	if p.Revision != "" {
		at = " at " + p.Revision
	}
	fmt.Fprintf(errOut, "Environment %s%s: %d to create, %d to change, %d to prune, %d unchanged",
		p.Environment, at, p.Count(plan.Create), p.Count(plan.Change), p.Count(plan.Prune), p.Count(plan.Unchanged))
	if n := p.Count(plan.Orphan); n > 0 {
		fmt.Fprintf(errOut, ", %d left in the cluster untracked", n)
	}
	if n := p.Count(plan.Held); n > 0 {
		fmt.Fprintf(errOut, ", %d held by a prune guard", n)
	}
	if n := p.Count(plan.Error); n > 0 {
		fmt.Fprintf(errOut, ", %d failed", n)
	}
	fmt.Fprintln(errOut, ".")
	return nil
}

// ANSI colours for the diff on a terminal.
const (
	ansiReset = "\x1b[0m"
	ansiBold  = "\x1b[1m"
	ansiRed   = "\x1b[31m"
	ansiGreen = "\x1b[32m"
	ansiCyan  = "\x1b[36m"
	ansiYello = "\x1b[33m"
)

// planSigils mark each action's header line, as diff tools do.
var planSigils = map[plan.Action]string{
	plan.Create: "+", plan.Change: "~", plan.Prune: "-", plan.Orphan: "!", plan.Held: "!", plan.Error: "✗", plan.Unchanged: "=",
}

func writePlanItem(w io.Writer, it plan.Item, color bool) {
	// An unchanged object is shown only when it has something to say, such
	// as fields left to a controller.
	if it.Action == plan.Unchanged && it.Note == "" {
		return
	}
	paint := func(code, s string) string {
		if !color {
			return s
		}
		return code + s + ansiReset
	}
	header := fmt.Sprintf("%s %s %s", planSigils[it.Action], it.Action, it.Ref)
	if it.Component != "" {
		header += " (component " + it.Component + ")"
	}
	switch it.Action {
	case plan.Error, plan.Prune:
		header = paint(ansiRed, header)
	case plan.Orphan, plan.Held:
		header = paint(ansiYello, header)
	default:
		header = paint(ansiBold, header)
	}
	fmt.Fprintln(w, header)
	if it.Note != "" {
		fmt.Fprintf(w, "  note: %s\n", it.Note)
	}
	if it.Error != "" {
		fmt.Fprintf(w, "  error: %s\n", it.Error)
	}
	if it.Diff == "" {
		return
	}
	writeDiff(w, it.Diff, paint)
	// A blank line ends the object's diff, so the next header stands out.
	fmt.Fprintln(w)
}

// writeDiff prints a unified diff, its lines coloured by paint.
func writeDiff(w io.Writer, diff string, paint func(code, s string) string) {
	for line := range strings.Lines(diff) {
		switch {
		case strings.HasPrefix(line, "+++"), strings.HasPrefix(line, "---"):
			line = paint(ansiBold, strings.TrimSuffix(line, "\n")) + "\n"
		case strings.HasPrefix(line, "@@"):
			line = paint(ansiCyan, strings.TrimSuffix(line, "\n")) + "\n"
		case strings.HasPrefix(line, "+"):
			line = paint(ansiGreen, strings.TrimSuffix(line, "\n")) + "\n"
		case strings.HasPrefix(line, "-"):
			line = paint(ansiRed, strings.TrimSuffix(line, "\n")) + "\n"
		}
		io.WriteString(w, line)
	}
}
