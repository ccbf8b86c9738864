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
// per changed component with its diffs. Diffs that would take it over max
// characters are left out, their objects still listed.
func Markdown(r *Report, limit int) string {
	var sb strings.Builder
	var total Counts
	failed := 0
	for _, e := range r.Environments {
		total.add(e.Counts)
		if e.Error != "" {
			failed++
		}
	}
	fmt.Fprintln(&sb, r.Marker())
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
	fmt.Fprintf(&sb, "### %s: %s\n\n", title, summary)
	fmt.Fprintf(&sb, "`%s` (`%s`) → `%s` (`%s`)\n", r.Base.Ref, r.Base.Revision, r.Head.Ref, r.Head.Revision)
	budget := limit - sb.Len() - 2000 // headers and sections to come
	cut := 0
	for _, e := range r.Environments {
		writeEnvMarkdown(&sb, r, e, &budget, &cut)
	}
	if cut > 0 {
		fmt.Fprintf(&sb, "\n_%d diffs were left out to keep this comment within GitHub's size limit; `envctl diff --base` shows them all._\n", cut)
	}
	return sb.String()
}

func writeEnvMarkdown(sb *strings.Builder, r *Report, e Environment, budget, cut *int) {
	if len(r.Environments) > 1 || r.All {
		fmt.Fprintf(sb, "\n#### `%s`: %s\n", e.Name, envStatus(e))
	}
	if e.Error != "" {
		fence := fenceFor(e.Error)
		fmt.Fprintf(sb, "\n**Failed to render:**\n\n%s\n%s\n%s\n", fence, e.Error, fence)
		return
	}
	unchanged := 0
	for _, c := range e.Components {
		if !c.Any() {
			unchanged++
			continue
		}
		fmt.Fprintf(sb, "\n<details>\n<summary><b>%s</b>: %s</summary>\n", html.EscapeString(c.Name), countsText(c.Counts))
		for _, ch := range c.Changes {
			fmt.Fprintf(sb, "\n**%s** `%s`\n", ch.Action, ch.Ref)
			if len(ch.Diff) > *budget {
				*cut++
				sb.WriteString("\n_(diff left out: the comment would be too long)_\n")
				continue
			}
			*budget -= len(ch.Diff)
			fence := fenceFor(ch.Diff)
			fmt.Fprintf(sb, "\n%sdiff\n%s%s\n", fence, ch.Diff, fence)
		}
		sb.WriteString("\n</details>\n")
	}
	if unchanged > 0 {
		fmt.Fprintf(sb, "\n%d unchanged component(s).\n", unchanged)
	}
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
