package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utiljson "k8s.io/apimachinery/pkg/util/json"
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
	// badSeparator is the first line (counted within the stream) that
	// starts with "---" and goes on with more than a comment; 0 if none.
	badSeparator int
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
// template, counting lines from there. Documents holding only blank lines
// are dropped; those holding comments are kept, since YAML still refuses
// some (invalid UTF-8, control characters) and kubectl with it.
func splitDocuments(data []byte, source string) []document {
	return splitDocumentsFrom(data, source, 1)
}

// splitDocumentsFrom is splitDocuments for a stream whose first line is line
// first of the file.
func splitDocumentsFrom(data []byte, source string, first int) []document {
	var docs []document
	cur := document{source: source, start: first}
	var body bytes.Buffer
	empty, comments := true, false
	flush := func() {
		if !empty || comments {
			if empty {
				cur.content = cur.start
			}
			cur.body = bytes.Clone(body.Bytes())
			docs = append(docs, cur)
		}
		body.Reset()
		empty, comments = true, false
	}
	lineNo := first - 1
	for len(data) > 0 {
		lineNo++
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i+1], data[i+1:]
		} else {
			data = nil
		}
		line = asKubectlReadsLine(line)
		text := strings.TrimRight(string(line), "\r\n")
		if isSeparator(text) && body.Len() > 0 {
			flush()
			cur = document{source: cur.source, offset: cur.offset, start: lineNo + 1}
			continue
		}
		if isSeparator(text) {
			// As kubectl does, a separator that opens a document is kept in
			// it for YAML to read: a document start, or after "---#" with
			// no blank between, a plain scalar. An end marker, which YAML
			// refuses there, is kept blanked, for the lines to count.
			if strings.HasPrefix(text, "...") {
				line = append([]byte("   "), line[3:]...)
			}
			body.Write(line)
			comments = comments || len(text) > 3
			continue
		}
		if strings.HasPrefix(text, "---") && cur.badSeparator == 0 {
			cur.badSeparator = lineNo
		}
		// Blank as YAML sees it: other Unicode spaces are content.
		trimmed := strings.Trim(text, " \t\r")
		if s, ok := strings.CutPrefix(trimmed, sourcePrefix); ok && empty {
			cur.source = strings.TrimSpace(s)
			cur.offset = lineNo
		}
		if empty && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			// Leading comments and blank lines do not make a document, but
			// they keep their lines so that YAML errors count correctly.
			// A tab YAML cannot start a token with is parsed, and refused.
			comments = comments || trimmed != "" || strings.ContainsRune(text, '\t')
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

// asKubectlReadsLine is a line as kubectl's YAML reader passes it on: its
// CRLF or LF ending, or none at the end of the stream, as one LF. It
// matters to YAML in a block scalar ending the stream, and in UTF-16.
func asKubectlReadsLine(line []byte) []byte {
	n := len(line)
	switch {
	case bytes.HasSuffix(line, []byte("\r\n")):
		return append(line[:n-2:n-2], '\n')
	case bytes.HasSuffix(line, []byte("\n")):
		return line
	}
	return append(line[:n:n], '\n')
}

// isSeparator reports whether a line is a YAML document separator, possibly
// followed by a comment, as kubectl splits a stream ("---#" included). A
// document end marker ("...") separates too where YAML reads one: followed
// by nothing, a blank, or a blank and a comment.
func isSeparator(line string) bool {
	rest, ok := strings.CutPrefix(line, "---")
	if !ok {
		rest, ok = strings.CutPrefix(line, "...")
		if !ok || rest != "" && rest[0] != ' ' && rest[0] != '\t' {
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

// jsonPeek is how far kubectl looks into a stream to tell JSON from YAML.
const jsonPeek = 4096

// decodeManifests decodes a rendered stream of documents into objects, as
// kubectl reads a file: a stream whose first character is "{" is read as
// JSON values one after another, anything else as YAML documents. Empty
// documents are dropped; a List is expanded into its items. Errors are
// classified as bad input and name the source and line, never the
// document's content, which may hold Secret data.
//
// It differs from kubectl in one way, on purpose: a YAML document end
// marker ("...") ends a document, so that what follows it is read as the
// next document instead of being dropped without a word.
func decodeManifests(data []byte, source string) ([]*unstructured.Unstructured, error) {
	if bytes.HasPrefix(bytes.TrimLeftFunc(data[:min(len(data), jsonPeek)], unicode.IsSpace), []byte("{")) {
		return decodeJSONStream(data, source)
	}
	return decodeYAMLStream(data, source, 1)
}

// decodeYAMLStream decodes YAML documents; first is the line of the file
// the stream starts at.
func decodeYAMLStream(data []byte, source string, first int) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	for _, d := range splitDocumentsFrom(data, source, first) {
		got, err := decodeDocument(d)
		if err != nil {
			return nil, err
		}
		objs = append(objs, got...)
	}
	return objs, nil
}

// decodeJSONStream decodes a stream of JSON values. As kubectl does, a
// stream whose first or second value does not decode as JSON is read as
// YAML from where the JSON values end (a YAML flow mapping, or JSON followed
// by YAML documents); after two values it is JSON to the end.
func decodeJSONStream(data []byte, source string) ([]*unstructured.Unstructured, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var objs []*unstructured.Unstructured
	var end int64
	for count := 0; ; count++ {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			if count > 1 {
				return nil, errs.Inputf("%s: line %d: %s", source, lineAt(data, jsonErrorOffset(err, dec)), jsonReason(err))
			}
			rest, line := yamlAfter(data, end)
			more, yerr := decodeYAMLStream(rest, source, line)
			if yerr != nil {
				if count == 0 {
					return nil, yerr
				}
				return nil, errs.Inputf("%s: line %d: %s", source, lineAt(data, jsonErrorOffset(err, dec)), jsonReason(err))
			}
			return append(objs, more...), nil
		}
		start := end
		end = dec.InputOffset()
		got, err := decodeObjects(raw)
		if errors.Is(err, errNotObject) {
			return nil, errs.Inputf("%s: JSON value at line %d is not a Kubernetes object (a JSON object)", source, lineAt(data, valueStart(data, start)))
		}
		if err != nil {
			return nil, errs.Inputf("%s: JSON value at line %d: %v", source, lineAt(data, valueStart(data, start)), err)
		}
		objs = append(objs, got...)
	}
}

// yamlAfter is the rest of a stream after its JSON values, as kubectl
// reads it on: from end, past the blanks up to and including the first
// line break. It returns the line that rest starts at.
func yamlAfter(data []byte, end int64) ([]byte, int) {
	i := int(end)
	for i < len(data) {
		r, size := utf8.DecodeRune(data[i:])
		if !unicode.IsSpace(r) {
			break
		}
		i += size
		if r == '\n' {
			break
		}
	}
	return data[i:], lineAt(data, int64(i))
}

// valueStart is the offset of the first character after start that is not
// blank.
func valueStart(data []byte, start int64) int64 {
	rest := data[start:]
	return start + int64(len(rest)-len(bytes.TrimLeftFunc(rest, unicode.IsSpace)))
}

// lineAt is the line of data that offset falls on.
func lineAt(data []byte, offset int64) int {
	return 1 + bytes.Count(data[:min(int(offset), len(data))], []byte("\n"))
}

// jsonErrorOffset is where a JSON syntax error was found.
func jsonErrorOffset(err error, dec *json.Decoder) int64 {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return se.Offset
	}
	return dec.InputOffset()
}

var quotedCharRE = regexp.MustCompile(` '[^']*'`)

// jsonReason is a JSON syntax error without the character it quotes.
func jsonReason(err error) string {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "invalid JSON: unexpected end of input"
	}
	return "invalid JSON: " + quotedCharRE.ReplaceAllString(err.Error(), "")
}

func decodeDocument(d document) ([]*unstructured.Unstructured, error) {
	where := func(format string, args ...any) error {
		return errs.Inputf("%s: "+format, append([]any{d.source}, args...)...)
	}
	if d.badSeparator != 0 {
		// kubectl refuses it too; YAML would read the rest of the line as
		// the next document's content, which readers tend to drop.
		return nil, where("line %d: a document separator (---) followed by more than a comment; put the document on the next line", d.badSeparator-d.offset)
	}
	j, err := yaml.YAMLToJSON(d.body)
	if err != nil {
		return nil, where("%s", yamlError(err, d))
	}
	objs, err := decodeObjects(j)
	if errors.Is(err, errNotObject) {
		return nil, where("document at line %d is not a Kubernetes object (a YAML mapping)", d.line())
	}
	if err != nil {
		return nil, where("document at line %d: %v", d.line(), err)
	}
	return objs, nil
}

var errNotObject = errors.New("not a Kubernetes object")

// decodeObjects decodes one document, as JSON, into objects the way kubectl
// does (cli-runtime's builder): a document that is null or empty holds
// none; one with an "items" field is a List, whose items without a kind and
// apiVersion take the List's (a ConfigMapList's items are ConfigMaps); the
// document's metadata must decode as Kubernetes object metadata. Each
// object is then normalized and checked (prepareObject).
func decodeObjects(j []byte) ([]*unstructured.Unstructured, error) {
	j = bytes.TrimSpace(j)
	if len(j) == 0 || bytes.Equal(j, []byte("null")) {
		return nil, nil
	}
	if j[0] != '{' {
		return nil, errNotObject
	}
	decoded, _, err := unstructured.UnstructuredJSONScheme.Decode(j, nil, nil)
	if err != nil {
		return nil, errors.New(objectDecodeReason(err))
	}
	if err := checkMetadata(j); err != nil {
		return nil, err
	}
	var objs []*unstructured.Unstructured
	switch t := decoded.(type) {
	case *unstructured.Unstructured:
		objs = append(objs, t)
	case *unstructured.UnstructuredList:
		for i := range t.Items {
			objs = append(objs, &t.Items[i])
		}
	default:
		return nil, fmt.Errorf("decoded as %T, not an object", decoded)
	}
	for i, o := range objs {
		if err := prepareObject(o); err != nil {
			if _, list := decoded.(*unstructured.UnstructuredList); list {
				return nil, fmt.Errorf("list item %d: %w", i, err)
			}
			return nil, err
		}
	}
	return objs, nil
}

// objectDecodeReason keeps the part of an unstructured decoding error that
// says what is wrong, without echoing the document.
func objectDecodeReason(err error) string {
	msg := err.Error()
	switch {
	case runtime.IsMissingKind(err), strings.Contains(msg, "'Kind' is missing"):
		return "object has no kind"
	case runtime.IsMissingVersion(err), strings.Contains(msg, "'apiVersion' is missing"):
		return "object has no apiVersion"
	}
	if i := strings.Index(msg, " in '"); i > 0 {
		// "Object 'Kind' is missing in '{...}'" style messages carry the
		// whole object; cut it off.
		msg = msg[:i]
	}
	return msg
}

// metadataOnly is what kubectl decodes every document's metadata into
// before it accepts the document.
type metadataOnly struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
}

// checkMetadata refuses a document whose metadata kubectl (and the API
// server) cannot decode: labels that are not strings, a finalizer that is a
// number, a malformed time. The error names the field, never its value.
func checkMetadata(j []byte) error {
	var m metadataOnly
	err := utiljson.Unmarshal(j, &m)
	if err == nil {
		return nil
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		// Value may go on with the number itself: keep its first word.
		what, _, _ := strings.Cut(te.Value, " ")
		return fmt.Errorf("%s cannot hold a %s (it takes %s)", te.Field, what, te.Type)
	}
	if msg := err.Error(); strings.HasPrefix(msg, "json: cannot unmarshal ") && !strings.ContainsAny(msg, "'\"`") {
		return errors.New(strings.TrimPrefix(msg, "json: "))
	}
	return errors.New("metadata does not decode as Kubernetes object metadata (a malformed time, or a field of the wrong type)")
}

// prepareObject puts a decoded object's metadata in the form the API server
// stores (normalizeMetadata) and checks what envctl relies on: an
// apiVersion and a kind to find its API, a name to apply it by, and labels
// and annotations that are strings, which envctl reads and adds to.
func prepareObject(obj *unstructured.Unstructured) error {
	normalizeMetadata(obj)
	return checkObject(obj)
}

// normalizeMetadata writes, in place, what the API server reads alike in
// the form it stores: null labels and annotations as none, a null label or
// annotation value as "", an empty or null namespace as none (the apply
// engine gives a namespaced object "default", as kubectl does). envctl reads
// these fields itself (ownership labels, its digest, Helm's hook
// annotations), so they must hold what the server will hold.
func normalizeMetadata(obj *unstructured.Unstructured) {
	md, ok := obj.Object["metadata"].(map[string]any)
	if !ok {
		return
	}
	for _, k := range []string{"labels", "annotations"} {
		v, found := md[k]
		if !found {
			continue
		}
		if v == nil {
			delete(md, k)
			continue
		}
		if m, ok := v.(map[string]any); ok {
			for key, val := range m {
				if val == nil {
					m[key] = ""
				}
			}
		}
	}
	if ns, found := md["namespace"]; found && (ns == nil || ns == "") {
		delete(md, "namespace")
	}
}

// checkObject checks what envctl relies on: an apiVersion and a kind, a
// name (server-side apply cannot generate one) and labels and annotations
// that map strings to strings. The API server refuses an object that
// lacks any of these as well, so envctl is not stricter for it.
func checkObject(obj *unstructured.Unstructured) error {
	if obj.GetKind() == "" {
		return fmt.Errorf("object %q has no kind", obj.GetName())
	}
	if obj.GetAPIVersion() == "" {
		return fmt.Errorf("%s %q has no apiVersion", obj.GetKind(), obj.GetName())
	}
	if _, ok := obj.Object["metadata"].(map[string]any); !ok {
		return fmt.Errorf("%s has no metadata", obj.GetKind())
	}
	if obj.GetName() == "" {
		if obj.GetGenerateName() != "" {
			return fmt.Errorf("%s with generateName %q has no name: envctl applies by name (server-side apply), records and prunes objects by name, so metadata.name is required", obj.GetKind(), obj.GetGenerateName())
		}
		return fmt.Errorf("%s has no metadata.name (objects are applied by name)", obj.GetKind())
	}
	if _, _, err := unstructured.NestedStringMap(obj.Object, "metadata", "labels"); err != nil {
		return fmt.Errorf("%s %q: metadata.labels must map strings to strings", obj.GetKind(), obj.GetName())
	}
	if _, _, err := unstructured.NestedStringMap(obj.Object, "metadata", "annotations"); err != nil {
		return fmt.Errorf("%s %q: metadata.annotations must map strings to strings", obj.GetKind(), obj.GetName())
	}
	return nil
}
