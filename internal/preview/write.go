package preview

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"strings"

	"sigs.k8s.io/yaml"
)

// Formats Write takes.
const (
	FormatText     = "text"
	FormatMarkdown = "markdown"
	FormatJSON     = "json"
	FormatYAML     = "yaml"
)

// MarkerAll is the marker's name for a preview of every environment.
const MarkerAll = "all-environments"

// Marker is the HTML comment that opens a Markdown preview, which a CI job
// searches its pull request's comments for to update its earlier one:
// "<!-- envctl-diff: staging -->", or MarkerAll for every environment.
func (r *Report) Marker() string {
	name := MarkerAll
	if !r.All && len(r.Environments) == 1 {
		name = r.Environments[0].Name
	}
	return "<!-- envctl-diff: " + name + " -->"
}

// Write writes the report to out in format. The text format goes with a
// summary line per environment on summary, and is coloured when color is
// set; the other formats write nothing on summary.
func Write(out, summary io.Writer, r *Report, format string, color bool) error {
	switch format {
	case FormatJSON:
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	case FormatYAML:
		data, err := yaml.Marshal(r)
		if err != nil {
			return err
		}
		_, err = out.Write(data)
		return err
	case FormatMarkdown:
		_, err := io.WriteString(out, Markdown(r, MaxComment))
		return err
	case FormatText:
		writeText(out, summary, r, color)
		return nil
	}
	return fmt.Errorf("unknown format %q", format)
}

// countsText is "1 added, 2 changed", leaving out zeros; "no changes" when
// nothing differs.
func countsText(c Counts) string {
	var parts []string
	for _, p := range []struct {
		n    int
		what string
	}{{c.Added, "added"}, {c.Removed, "removed"}, {c.Changed, "changed"}} {
		if p.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", p.n, p.what))
		}
	}
	if len(parts) == 0 {
		return "no changes"
	}
	return strings.Join(parts, ", ")
}

// sides names the two states: "main (main@sha1:…) → work tree (sha1:…)".
func (r *Report) sides() string {
	return fmt.Sprintf("%s (%s) → %s (%s)", r.Base.Ref, r.Base.Revision, r.Head.Ref, r.Head.Revision)
}

// ANSI colours of the text format on a terminal.
const (
	ansiReset = "\x1b[0m"
	ansiBold  = "\x1b[1m"
	ansiRed   = "\x1b[31m"
	ansiGreen = "\x1b[32m"
	ansiCyan  = "\x1b[36m"
)

var sigils = map[Action]string{Added: "+", Removed: "-", Changed: "~"}

func writeText(out, summary io.Writer, r *Report, color bool) {
	paint := func(code, s string) string {
		if !color {
			return s
		}
		return code + s + ansiReset
	}
	for _, e := range r.Environments {
		for _, c := range e.Components {
			for _, ch := range c.Changes {
				fmt.Fprintln(out, paint(ansiBold, fmt.Sprintf("%s %s %s (environment %s, component %s)", sigils[ch.Action], ch.Action, ch.Ref, e.Name, c.Name)))
				writeDiff(out, ch.Diff, paint)
				fmt.Fprintln(out)
			}
		}
		if e.Error != "" {
			fmt.Fprintf(summary, "Environment %s, %s: failed to render (the error follows).\n", e.Name, r.sides())
			continue
		}
		fmt.Fprintf(summary, "Environment %s, %s: %s, %d unchanged.\n", e.Name, r.sides(), countsText(e.Counts), e.Unchanged)
	}
}

func writeDiff(w io.Writer, diff string, paint func(code, s string) string) {
	for line := range strings.Lines(diff) {
		text := strings.TrimSuffix(line, "\n")
		switch {
		case strings.HasPrefix(text, "+++"), strings.HasPrefix(text, "---"):
			text = paint(ansiBold, text)
		case strings.HasPrefix(text, "@@"):
			text = paint(ansiCyan, text)
		case strings.HasPrefix(text, "+"):
			text = paint(ansiGreen, text)
		case strings.HasPrefix(text, "-"):
			text = paint(ansiRed, text)
		}
		fmt.Fprintln(w, text)
	}
}

// MaxComment is the most characters Markdown writes by default: GitHub
// refuses a comment over 65,536.
const MaxComment = 60_000

// Markdown is the report as a pull-request comment: the marker, a one-line
// summary, the two revisions, and per environment a collapsible section
// per changed component with its diffs. It stays within limit characters:
// diffs that do not fit are left out (their objects still listed), and
// past that the objects that do not fit are counted instead of listed.
func Markdown(r *Report, limit int) string {
	// The listing without diffs says what the diffs can have.
	bare := (&mdWriter{limit: limit}).report(r)
	return (&mdWriter{limit: limit, diffs: limit - len(bare) - mdReserve}).report(r)
}

// mdReserve is kept free for what closes the comment: the end of the
// sections and the note on what was left out.
const mdReserve = 600

// maxErrorText is the most of a render error a comment quotes.
const maxErrorText = 4000

// mdWriter writes one Markdown comment.
type mdWriter struct {
	sb    strings.Builder
	limit int
	// diffs is what the diffs may still take.
	diffs int
	// noDiff and unlisted count the diffs left out and the objects not
	// listed.
	noDiff, unlisted int
}

func (w *mdWriter) report(r *Report) string {
	var total Counts
	failed := 0
	for _, e := range r.Environments {
		total.add(e.Counts)
		if e.Error != "" {
			failed++
		}
	}
	fmt.Fprintln(&w.sb, r.Marker())
	title := "envctl diff"
	if len(r.Environments) == 1 && !r.All {
		title += " `" + r.Environments[0].Name + "`"
	} else {
		title += fmt.Sprintf(", %d environments", len(r.Environments))
	}
	summary := countsText(total)
	if failed > 0 {
		summary += fmt.Sprintf(", %d failed to render", failed)
	}
	fmt.Fprintf(&w.sb, "### %s: %s\n\n", title, summary)
	fmt.Fprintf(&w.sb, "`%s` (`%s`) → `%s` (`%s`)\n", r.Base.Ref, r.Base.Revision, r.Head.Ref, r.Head.Revision)
	for _, e := range r.Environments {
		w.environment(r, e)
	}
	if w.noDiff > 0 || w.unlisted > 0 {
		fmt.Fprintf(&w.sb, "\n_To stay within GitHub's size limit, %d diffs were left out and %d objects not listed; `envctl diff --base` shows them all._\n", w.noDiff, w.unlisted)
	}
	return w.sb.String()
}

func (w *mdWriter) environment(r *Report, e Environment) {
	if len(r.Environments) > 1 || r.All {
		fmt.Fprintf(&w.sb, "\n#### `%s`: %s\n", e.Name, envStatus(e))
	}
	if e.Error != "" {
		msg := e.Error
		if len(msg) > maxErrorText {
			msg = msg[:maxErrorText] + "…"
		}
		fence := fenceFor(msg)
		fmt.Fprintf(&w.sb, "\n**Failed to render:**\n\n%s\n%s\n%s\n", fence, msg, fence)
		return
	}
	unchanged := 0
	for _, c := range e.Components {
		if !c.Any() {
			unchanged++
			continue
		}
		fmt.Fprintf(&w.sb, "\n<details>\n<summary><b>%s</b>: %s</summary>\n", html.EscapeString(c.Name), countsText(c.Counts))
		for i, ch := range c.Changes {
			if w.sb.Len() > w.limit-mdReserve {
				w.unlisted += len(c.Changes) - i
				fmt.Fprintf(&w.sb, "\n_…and %d more objects._\n", len(c.Changes)-i)
				break
			}
			w.change(ch)
		}
		w.sb.WriteString("\n</details>\n")
	}
	if unchanged > 0 {
		fmt.Fprintf(&w.sb, "\n%d unchanged component(s).\n", unchanged)
	}
}

// change lists one object, with its diff while the diffs' share lasts.
func (w *mdWriter) change(ch Change) {
	fmt.Fprintf(&w.sb, "\n**%s** `%s`\n", ch.Action, ch.Ref)
	fence := fenceFor(ch.Diff)
	cost := len(ch.Diff) + 2*len(fence)
	if cost > w.diffs {
		w.noDiff++
		w.sb.WriteString("\n_(diff left out)_\n")
		return
	}
	w.diffs -= cost
	fmt.Fprintf(&w.sb, "\n%sdiff\n%s%s\n", fence, ch.Diff, fence)
}

// envStatus is an environment's summary in its heading.
func envStatus(e Environment) string {
	switch {
	case e.Error != "":
		return "failed to render"
	case !e.InBase:
		return "new environment, " + countsText(e.Counts)
	case !e.InHead:
		return "environment removed, " + countsText(e.Counts)
	}
	return countsText(e.Counts)
}

// fenceFor is a code fence longer than any run of backticks in s, so that
// s cannot close it.
func fenceFor(s string) string {
	longest, run := 0, 0
	for _, c := range s {
		if c == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return strings.Repeat("`", max(3, longest+1))
}
