package render

import (
	"regexp"
	"strconv"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
)

// withheld ends a Helm error whose details are left out.
const withheld = "(details withheld: they may quote values)"

var (
	helmExecFail  = regexp.MustCompile(`execution error at \(([^)]+)\): (.*)`)
	helmExecError = regexp.MustCompile(`template: ([^\s:]+:\d+:\d+): executing "[^"]*" at <([^>]*)>: (.*)`)
	helmYAMLError = regexp.MustCompile(`YAML parse error on ([^\s:]+): (.*)`)
	helmCall      = regexp.MustCompile(`^error calling (\w+):`)
	// literalMessage is a call of fail or required whose message is a
	// string literal: text the chart's author wrote, with no value in it.
	literalMessage = regexp.MustCompile("\\b(required|fail)\\s+(\"(?:[^\"\\\\]|\\\\.)*\"|`[^`]*`)(\\s|\\)|-?}}|$)")
)

// helmErrorMessage is what envctl says of a Helm render error msg (its
// paths already relative): the template's location always, but never a
// message that may quote values, since values files and a chart's lookup
// hold secrets. A fail or required whose message is a literal in one of
// the chart's templates keeps its message; a function's error (which
// quotes its argument: atoi of a password) and a YAML error quoting text
// do not.
func helmErrorMessage(msg string, chrt *chart.Chart) string {
	if m := helmExecFail.FindStringSubmatch(msg); m != nil {
		loc := m[1]
		if isLiteralMessage(templateFiles(chrt), m[2]) {
			return "template " + loc + ": " + m[2]
		}
		return "template " + loc + ": fail or required stopped the render with a message built from values " + withheld
	}
	if m := helmExecError.FindStringSubmatch(msg); m != nil {
		loc, expr, detail := m[1], m[2], m[3]
		switch {
		case strings.HasPrefix(detail, "nil pointer evaluating"),
			strings.HasPrefix(detail, "map has no entry for key"),
			strings.HasPrefix(detail, "can't evaluate field"):
			// Types and names from the template, no value.
		case helmCall.MatchString(detail):
			detail = helmCall.FindString(detail) + " " + withheld
		default:
			detail = withheld
		}
		return "template " + loc + ": executing <" + expr + ">: " + detail
	}
	if m := helmYAMLError.FindStringSubmatch(msg); m != nil {
		if strings.ContainsAny(m[2], "`\"'") {
			return "YAML parse error on " + m[1] + " " + withheld
		}
		return msg[strings.Index(msg, m[0]):]
	}
	return msg
}

// templateFiles maps each template of chrt and its subcharts to its text,
// by the name Helm's errors give it ("demo/templates/x.yaml",
// "demo/charts/sub/templates/y.yaml").
func templateFiles(chrt *chart.Chart) map[string][]byte {
	out := map[string][]byte{}
	var walk func(c *chart.Chart, prefix string)
	walk = func(c *chart.Chart, prefix string) {
		for _, t := range c.Templates {
			out[prefix+"/"+t.Name] = t.Data
		}
		for _, d := range c.Dependencies() {
			walk(d, prefix+"/charts/"+d.Name())
		}
	}
	if chrt != nil {
		walk(chrt, chrt.Name())
	}
	return out
}

// isLiteralMessage reports whether msg is the string literal of a call of
// fail or required in one of the templates. Helm reports such a call at
// the outermost template action, often an include on another line or in
// another file, so the message itself is what is looked for: text the
// chart's author wrote holds no value.
func isLiteralMessage(files map[string][]byte, msg string) bool {
	for _, data := range files {
		for _, m := range literalMessage.FindAllStringSubmatch(string(data), -1) {
			if s, err := strconv.Unquote(m[2]); err == nil && s == msg {
				return true
			}
		}
	}
	return false
}
