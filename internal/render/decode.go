package render

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/envctl/envctl/internal/errs"
)

// document is one YAML document of a multi-document stream.
type document struct {
	// source names where the document came from: the file, or for Helm the
	// template named by its "# Source:" comment.
	source string
	// start is the line of the stream the body starts at, content the line
	// of its first line that is not blank or a comment.
	start, content int
	// offset is the line of the "# Source:" comment that named source, so
	// that lines can be counted from the start of the rendered template; 0
	// when the stream is one file.
	offset int
	body   []byte
}

// line is the document's first content line, counted within its source.
func (d document) line() int { return d.content - d.offset }

// streamLine converts a line number within the body, as a YAML parser
// reports it, into one counted within the document's source.
func (d document) streamLine(n int) int { return d.start + n - 1 - d.offset }

// sourcePrefix is the comment Helm writes before each rendered template.
const sourcePrefix = "# Source: "

// splitDocuments splits a YAML stream at its "---" separators. It keeps the
// line each document starts at, so that errors point into the stream, and
// follows Helm's "# Source:" comments so that they can also name the
// template, counting lines from there. Documents holding only comments and
// blank lines are dropped.
func splitDocuments(data []byte, source string) []document {
	var docs []document
	cur := document{source: source, start: 1}
	var body bytes.Buffer
	empty := true
	flush := func() {
		if !empty {
			cur.body = bytes.Clone(body.Bytes())
			docs = append(docs, cur)
		}
		body.Reset()
		empty = true
	}
	lineNo := 0
	for len(data) > 0 {
		lineNo++
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i+1], data[i+1:]
		} else {
			data = nil
		}
		text := strings.TrimRight(string(line), "\r\n")
		if isSeparator(text) {
			flush()
			cur = document{source: cur.source, offset: cur.offset, start: lineNo + 1}
			continue
		}
		trimmed := strings.TrimSpace(text)
		if s, ok := strings.CutPrefix(trimmed, sourcePrefix); ok && empty {
			cur.source = strings.TrimSpace(s)
			cur.offset = lineNo
		}
		if empty && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			// Leading comments and blank lines do not make a document, but
			// they keep their lines so that YAML errors count correctly.
			body.Write(line)
			continue
		}
		if empty {
			cur.content = lineNo
		}
		empty = false
		body.Write(line)
	}
	flush()
	return docs
}

// isSeparator reports whether a line is a YAML document separator, possibly
// followed by a comment. A document end marker ("...") separates too.
func isSeparator(line string) bool {
	rest, ok := strings.CutPrefix(line, "---")
	if !ok {
		rest, ok = strings.CutPrefix(line, "...")
		if !ok {
			return false
		}
	}
	rest = strings.TrimSpace(rest)
	return rest == "" || strings.HasPrefix(rest, "#")
}

var yamlLineRE = regexp.MustCompile(`^(?:error converting YAML to JSON: )?yaml: line (\d+): (.*)$`)

// yamlError turns a YAML parser error for document d into "line N: reason"
// with N counted within the document's source.
func yamlError(err error, d document) string {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return fmt.Sprintf("line %d: %s", d.streamLine(n), m[2])
	}
	msg = strings.TrimPrefix(msg, "error converting YAML to JSON: ")
	return fmt.Sprintf("document at line %d: %s", d.line(), msg)
}

// decodeManifests decodes a rendered multi-document YAML stream into
// objects. Empty documents are dropped; a v1 List is expanded into its items.
// Errors are classified as bad input and name the source and line, never the
// document's content, which may hold Secret data.
func decodeManifests(data []byte, source string) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	for _, d := range splitDocuments(data, source) {
		got, err := decodeDocument(d)
		if err != nil {
			return nil, err
		}
		objs = append(objs, got...)
	}
	return objs, nil
}

func decodeDocument(d document) ([]*unstructured.Unstructured, error) {
	where := func(format string, args ...any) error {
		return errs.Inputf("%s: "+format, append([]any{d.source}, args...)...)
	}
	j, err := yaml.YAMLToJSON(d.body)
	if err != nil {
		return nil, where("%s", yamlError(err, d))
	}
	j = bytes.TrimSpace(j)
	if len(j) == 0 || bytes.Equal(j, []byte("null")) {
		return nil, nil
	}
	if j[0] != '{' {
		return nil, where("document at line %d is not a Kubernetes object (a YAML mapping)", d.line())
	}
	obj := &unstructured.Unstructured{}
	if err := obj.UnmarshalJSON(j); err != nil {
		return nil, where("document at line %d: %s", d.line(), objectDecodeReason(err))
	}
	if obj.IsList() {
		var items []*unstructured.Unstructured
		err := obj.EachListItem(func(o runtime.Object) error {
			u, ok := o.(*unstructured.Unstructured)
			if !ok {
				return fmt.Errorf("list item is not an object")
			}
			if err := checkObject(u); err != nil {
				return err
			}
			items = append(items, u)
			return nil
		})
		if err != nil {
			return nil, where("list at line %d: %v", d.line(), err)
		}
		return items, nil
	}
	if err := checkObject(obj); err != nil {
		return nil, where("document at line %d: %v", d.line(), err)
	}
	return []*unstructured.Unstructured{obj}, nil
}

// objectDecodeReason keeps the part of an unstructured decoding error that
// says what is wrong, without echoing the document.
func objectDecodeReason(err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "'Kind' is missing"):
		return "object has no kind"
	case strings.Contains(msg, "'apiVersion' is missing"):
		return "object has no apiVersion"
	}
	if i := strings.Index(msg, " in '"); i > 0 {
		// "Object 'Kind' is missing in '{...}'" style messages carry the
		// whole object; cut it off.
		msg = msg[:i]
	}
	return msg
}

// checkObject checks what envctl relies on: an apiVersion, a kind, a name
// (server-side apply cannot generate one) and well-formed labels.
func checkObject(obj *unstructured.Unstructured) error {
	if obj.GetAPIVersion() == "" {
		return fmt.Errorf("%s %q has no apiVersion", obj.GetKind(), obj.GetName())
	}
	if obj.GetKind() == "" {
		return fmt.Errorf("object %q has no kind", obj.GetName())
	}
	if _, ok := obj.Object["metadata"].(map[string]any); !ok {
		return fmt.Errorf("%s has no metadata", obj.GetKind())
	}
	if obj.GetName() == "" {
		if obj.GetGenerateName() != "" {
			return fmt.Errorf("%s with generateName %q has no name: envctl applies by name, so metadata.name is required", obj.GetKind(), obj.GetGenerateName())
		}
		return fmt.Errorf("%s has no metadata.name", obj.GetKind())
	}
	if _, _, err := unstructured.NestedStringMap(obj.Object, "metadata", "labels"); err != nil {
		return fmt.Errorf("%s %q: metadata.labels must map strings to strings", obj.GetKind(), obj.GetName())
	}
	if _, _, err := unstructured.NestedStringMap(obj.Object, "metadata", "annotations"); err != nil {
		return fmt.Errorf("%s %q: metadata.annotations must map strings to strings", obj.GetKind(), obj.GetName())
	}
	return nil
}
