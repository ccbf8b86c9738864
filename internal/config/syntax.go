package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/envctl/envctl/internal/errs"
)

// parseDocument parses data and returns the root node of its only document.
// Comment-only documents (such as the one a trailing "---" opens) are
// ignored; two documents with content are an error.
func parseDocument(file string, data []byte) (root *yaml.Node, err error) {
	defer func() {
		// The YAML library has panicked on malformed input in the past; a
		// configuration file must never crash envctl.
		if r := recover(); r != nil {
			root, err = nil, errs.Input(&FieldError{File: file, Msg: fmt.Sprintf("cannot parse YAML: %v", r)})
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*yaml.Node
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, syntaxError(file, data, err)
		}
		if len(doc.Content) == 0 || isNull(doc.Content[0]) {
			continue
		}
		docs = append(docs, doc.Content[0])
	}
	switch len(docs) {
	case 0:
		return nil, errs.Input(&FieldError{File: file, Msg: "file is empty; want a document with apiVersion " + APIVersion})
	case 1:
		return docs[0], nil
	default:
		d := docs[1]
		return nil, errs.Input(&FieldError{File: file, Line: d.Line, Column: d.Column,
			Msg: fmt.Sprintf("a second YAML document starts here; a file holds exactly one (found %d)", len(docs))})
	}
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError turns the YAML library's error into a FieldError located at
// the offending line and column. The library reports only a line, and for
// many errors the line where the enclosing block started rather than the
// line at fault, so the position is found by parsing ever longer prefixes
// of the file: the shortest prefix that fails with the same message ends
// where the problem is.
func syntaxError(file string, data []byte, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	col := 0
	if l, c, ok := locateSyntaxError(data, msg); ok {
		line, col = l, c
	}
	return errs.Input(&FieldError{File: file, Line: line, Column: col, Msg: "invalid YAML: " + msg})
}

// locateSyntaxError finds the shortest prefix of data that fails to parse
// with msg, by binary search over lines and then over the columns of the
// last line, and returns where that prefix ends. ok is false when no prefix
// reproduces the message.
func locateSyntaxError(data []byte, msg string) (line, col int, ok bool) {
	failsAt := func(n int) bool { return parseFailure(data[:n]) == msg }
	if !failsAt(len(data)) {
		return 0, 0, false
	}
	// ends[i] is the offset just past line i+1, newline included.
	var ends []int
	for i, b := range data {
		if b == '\n' {
			ends = append(ends, i+1)
		}
	}
	if len(ends) == 0 || ends[len(ends)-1] != len(data) {
		ends = append(ends, len(data))
	}
	lo, hi := 0, len(ends)-1 // the answer is in ends[lo..hi]; ends[hi] fails
	for lo < hi {
		mid := (lo + hi) / 2
		if failsAt(ends[mid]) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	start := 0
	if lo > 0 {
		start = ends[lo-1]
	}
	if start > 0 && failsAt(start) {
		// Not monotonic: the previous line already fails. Give the line only.
		return lo + 1, 0, true
	}
	// Columns: the shortest prefix of this line that fails.
	clo, chi := start+1, ends[lo]
	for clo < chi {
		mid := (clo + chi) / 2
		if failsAt(mid) {
			chi = mid
		} else {
			clo = mid + 1
		}
	}
	return lo + 1, utf8.RuneCount(data[start:clo]), true
}

// parseFailure returns the message of the first error parsing data, with
// the library's "yaml: line N: " prefix removed, or "".
func parseFailure(data []byte) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprint(r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if err == nil {
			continue
		}
		if errors.Is(err, io.EOF) {
			return ""
		}
		if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
			return m[2]
		}
		return strings.TrimPrefix(err.Error(), "yaml: ")
	}
}
