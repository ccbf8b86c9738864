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
// hold secrets. A fail or required whose message is a literal in the
// template keeps its message; a function's error (which quotes its
// argument: atoi of a password) and a YAML error quoting text do not.
func helmErrorMessage(msg string, chrt *chart.Chart) string {
	if m := helmExecFail.FindStringSubmatch(msg); m != nil {
		loc := m[1]
		if literalCallAt(templateFiles(chrt), loc) {
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

// literalCallAt reports whether the template action at loc (NAME:LINE:COL)
// calls fail or required with a string literal as its message.
func literalCallAt(files map[string][]byte, loc string) bool {
	parts := strings.Split(loc, ":")
	if len(parts) < 2 {
		return false
	}
	name := strings.Join(parts[:len(parts)-2], ":")
	lineNo, err := strconv.Atoi(parts[len(parts)-2])
	if len(parts) < 3 || err != nil {
		name = strings.Join(parts[:len(parts)-1], ":")
		if lineNo, err = strconv.Atoi(parts[len(parts)-1]); err != nil {
			return false
		}
	}
	data, ok := files[name]
	if !ok {
		return false
	}
	lines := strings.Split(string(data), "\n")
	if lineNo < 1 || lineNo > len(lines) {
		return false
	}
	// The action may be any on the line; every call of fail or required on
	// it must be literal for the message to be shown.
	line := lines[lineNo-1]
	calls := regexp.MustCompile(`\b(required|fail)\b`).FindAllStringIndex(line, -1)
	return len(calls) > 0 && len(literalMessage.FindAllStringIndex(line, -1)) == len(calls)
}
