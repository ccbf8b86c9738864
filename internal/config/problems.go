package config

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/envctl/envctl/internal/errs"
)

// Pos is a position in a configuration file, 1-based as editors count.
type Pos struct {
	Line   int
	Column int
}

// FieldError is one problem with a configuration file, located as precisely
// as the problem allows so that an editor can jump to it.
type FieldError struct {
	// File is the path relative to the repository root, or a description of
	// where a setting came from ("environment variable ENVCTL_APPLY_TIMEOUT").
	File string
	// Line and Column are 0 when unknown.
	Line   int
	Column int
	// Field is the path of the field, such as spec.components[1].dependsOn[0].
	Field string
	Msg   string
}

func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, ":%d", e.Column)
		}
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// positions maps a field path to where its value (or, for an unknown key,
// the key) starts in the file.
type positions map[string]Pos

// at returns the position of path, or of its nearest ancestor that was
// written in the file: a missing field is reported where its parent is.
func (p positions) at(path string) Pos {
	for path != "" {
		if pos, ok := p[path]; ok {
			return pos
		}
		path = parentPath(path)
	}
	return p[""]
}

// has says whether path was written in the file.
func (p positions) has(path string) bool {
	_, ok := p[path]
	return ok
}

// parentPath strips the last segment of a field path: a.b[2] -> a.b -> a.
func parentPath(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	// A map key segment is ["..."] and may itself contain dots or brackets.
	if strings.HasSuffix(path, "\"]") {
		if j := strings.LastIndex(path, "[\""); j >= 0 {
			return path[:j]
		}
	}
	return path[:i]
}

// problems collects every problem in a file so that they are reported at
// once, in file order.
type problems struct {
	file string
	pos  positions
	list []*FieldError
}

// addf records a problem with the field at path.
func (p *problems) addf(path, format string, args ...any) {
	pos := p.pos.at(path)
	p.list = append(p.list, &FieldError{
		File: p.file, Line: pos.Line, Column: pos.Column,
		Field: path, Msg: fmt.Sprintf(format, args...),
	})
}

// addAt records a problem at an explicit position.
func (p *problems) addAt(pos Pos, path, format string, args ...any) {
	p.list = append(p.list, &FieldError{
		File: p.file, Line: pos.Line, Column: pos.Column,
		Field: path, Msg: fmt.Sprintf(format, args...),
	})
}

// err returns the problems as one bad-input error, or nil.
func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	sort.SliceStable(p.list, func(i, j int) bool {
		a, b := p.list[i], p.list[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	es := make([]error, len(p.list))
	for i, e := range p.list {
		es[i] = e
	}
	return errs.Input(errors.Join(es...))
}

// FieldErrors returns every FieldError in err, for callers and tests that
// want to inspect problems one by one.
func FieldErrors(err error) []*FieldError {
	var out []*FieldError
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		if fe, ok := err.(*FieldError); ok {
			out = append(out, fe)
			return
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return out
}

// suggest returns the candidate closest to got, for "did you mean" hints:
// a case-insensitive match first, then the nearest within a small edit
// distance. It returns "" when nothing is close.
func suggest(got string, candidates []string) string {
	for _, c := range candidates {
		if strings.EqualFold(c, got) {
			return c
		}
	}
	best, bestD := "", 0
	limit := 2
	if len(got) > 8 {
		limit = 3
	}
	lg := strings.ToLower(got)
	for _, c := range candidates {
		d := editDistance(lg, strings.ToLower(c))
		if d <= limit && (best == "" || d < bestD) {
			best, bestD = c, d
		}
	}
	return best
}

// didYouMean formats suggest's answer as a hint to append to a message.
func didYouMean(got string, candidates []string) string {
	if s := suggest(got, candidates); s != "" {
		return fmt.Sprintf(" (did you mean %q?)", s)
	}
	return ""
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
