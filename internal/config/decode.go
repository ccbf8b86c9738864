package config

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/envctl/envctl/internal/errs"
)

const (
	// maxFileSize bounds what is read as configuration: real files are a few
	// KB, and a bound keeps a mistaken path (a log, an image) from being parsed.
	maxFileSize = 1 << 20
	// maxNodes bounds the nodes visited while decoding, which is what an
	// alias-expansion ("billion laughs") document would blow up.
	maxNodes = 100_000
	// maxDepth bounds nesting inside free-form Helm values.
	maxDepth = 100
)

// decodeFile decodes the single YAML document in data into out, a pointer to
// one of the configuration types, as strictly as encoding/json with
// DisallowUnknownFields would but with every problem located in the file.
// file names the file in messages. The positions of every field written in
// the file are returned for later validation messages.
func decodeFile(file string, data []byte, out any) (positions, error) {
	pos := positions{}
	p := &problems{file: file, pos: pos}
	if len(data) > maxFileSize {
		return pos, errs.Input(&FieldError{File: file, Msg: fmt.Sprintf("file is %d bytes; configuration files are limited to %d", len(data), maxFileSize)})
	}
	root, err := parseDocument(file, data)
	if err != nil {
		return pos, err
	}
	pos[""] = Pos{Line: root.Line, Column: root.Column}
	w := &walker{p: p, budget: maxNodes}
	w.decode(root, reflect.ValueOf(out).Elem(), "", 0)
	return pos, p.err()
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// walker decodes a node tree into Go values by reflection over json tags,
// which is what the configuration types carry (they are also printed as
// JSON), recording positions and problems as it goes.
type walker struct {
	p      *problems
	budget int
}

var (
	durationType  = reflect.TypeFor[Duration]()
	manifestsType = reflect.TypeFor[Manifests]()
	registryType  = reflect.TypeFor[KindRegistry]()
)

func (w *walker) decode(n *yaml.Node, v reflect.Value, path string, depth int) {
	if !w.spend(n, path) {
		return
	}
	w.p.pos[path] = Pos{Line: n.Line, Column: n.Column}
	n = resolveAlias(n)
	if n == nil || isNull(n) {
		return
	}
	t := v.Type()
	switch {
	case t == durationType:
		w.duration(n, v, path)
	case t == manifestsType && n.Kind == yaml.ScalarNode:
		// manifests: DIR is short for manifests: {path: DIR}.
		w.decode(n, v.FieldByName("Path"), join(path, "path"), depth)
	case t == registryType && n.Kind == yaml.ScalarNode:
		// registry: true is short for registry: {enabled: true}.
		w.decode(n, v.FieldByName("Enabled"), join(path, "enabled"), depth)
	case t == registryType:
		// A registry mapping turns the registry on unless it says otherwise.
		v.FieldByName("Enabled").SetBool(true)
		w.structFields(n, v, path, depth)
	case t.Kind() == reflect.Pointer:
		elem := reflect.New(t.Elem())
		w.decode(n, elem.Elem(), path, depth)
		v.Set(elem)
	case t.Kind() == reflect.Struct:
		w.structFields(n, v, path, depth)
	case t.Kind() == reflect.Slice:
		w.slice(n, v, path, depth)
	case t.Kind() == reflect.Map:
		w.mapping(n, v, path, depth)
	case t.Kind() == reflect.Interface:
		if val, ok := w.free(n, path, depth); ok && val != nil {
			v.Set(reflect.ValueOf(val))
		}
	default:
		w.scalar(n, v, path)
	}
}

// spend counts one visited node against the budget, reporting once when it
// runs out.
func (w *walker) spend(n *yaml.Node, path string) bool {
	w.budget--
	if w.budget == -1 {
		w.p.addAt(Pos{n.Line, n.Column}, path, "document is too large (more than %d nodes after expanding aliases)", maxNodes)
	}
	return w.budget >= 0
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 16; i++ {
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.AliasNode {
		return nil
	}
	return n
}

// jsonName is the name a struct field has in configuration files.
func jsonName(f reflect.StructField) string {
	if !f.IsExported() {
		return "-"
	}
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "" {
		return f.Name
	}
	return name
}

func (w *walker) structFields(n *yaml.Node, v reflect.Value, path string, depth int) {
	if n.Kind != yaml.MappingNode {
		w.p.addAt(Pos{n.Line, n.Column}, path, "want a mapping of fields, got %s", describe(n))
		return
	}
	t := v.Type()
	fields := map[string]int{}
	var names []string
	for i := range t.NumField() {
		if name := jsonName(t.Field(i)); name != "-" {
			fields[name] = i
			names = append(names, name)
		}
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if !w.key(k, path, seen) {
			continue
		}
		idx, ok := fields[k.Value]
		if !ok {
			w.p.addAt(Pos{k.Line, k.Column}, path, "unknown field %q%s", k.Value, didYouMean(k.Value, names))
			continue
		}
		w.decode(val, v.Field(idx), join(path, k.Value), depth+1)
	}
}

// key checks a mapping key: a plain scalar, written once.
func (w *walker) key(k *yaml.Node, path string, seen map[string]int) bool {
	if k.Kind != yaml.ScalarNode {
		w.p.addAt(Pos{k.Line, k.Column}, path, "keys must be strings, got %s", describe(k))
		return false
	}
	if k.ShortTag() == "!!merge" {
		w.p.addAt(Pos{k.Line, k.Column}, path, "merge keys (<<) are not supported; write the fields out")
		return false
	}
	if line, dup := seen[k.Value]; dup {
		w.p.addAt(Pos{k.Line, k.Column}, path, "key %q is repeated (first at line %d)", k.Value, line)
		return false
	}
	seen[k.Value] = k.Line
	return true
}

func (w *walker) slice(n *yaml.Node, v reflect.Value, path string, depth int) {
	if n.Kind != yaml.SequenceNode {
		hint := ""
		if n.Kind == yaml.ScalarNode {
			hint = fmt.Sprintf("; write [%s]", n.Value)
		}
		w.p.addAt(Pos{n.Line, n.Column}, path, "want a list, got %s%s", describe(n), hint)
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		w.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i), depth+1)
	}
	v.Set(s)
}

func (w *walker) mapping(n *yaml.Node, v reflect.Value, path string, depth int) {
	if n.Kind != yaml.MappingNode {
		w.p.addAt(Pos{n.Line, n.Column}, path, "want a mapping, got %s", describe(n))
		return
	}
	m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if !w.key(k, path, seen) {
			continue
		}
		elem := reflect.New(v.Type().Elem()).Elem()
		w.decode(val, elem, fmt.Sprintf("%s[%q]", path, k.Value), depth+1)
		m.SetMapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key()), elem)
	}
	v.Set(m)
}

// free decodes free-form data (Helm values) into the types encoding/json
// would give, with integers kept as int64 as Helm's own YAML loader does.
func (w *walker) free(n *yaml.Node, path string, depth int) (any, bool) {
	if n == nil {
		w.p.addf(path, "alias cannot be resolved")
		return nil, false
	}
	if depth > maxDepth {
		w.p.addAt(Pos{n.Line, n.Column}, path, "nested more than %d levels deep", maxDepth)
		return nil, false
	}
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if !w.key(k, path, seen) {
				continue
			}
			child := fmt.Sprintf("%s[%q]", path, k.Value)
			if !w.spend(val, child) {
				return nil, false
			}
			if x, ok := w.free(resolveAlias(val), child, depth+1); ok {
				m[k.Value] = x
			}
		}
		return m, true
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for i, item := range n.Content {
			if !w.spend(item, path) {
				return nil, false
			}
			if x, ok := w.free(resolveAlias(item), fmt.Sprintf("%s[%d]", path, i), depth+1); ok {
				s = append(s, x)
			}
		}
		return s, true
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return nil, true
		case "!!bool":
			b, err := strconv.ParseBool(n.Value)
			if err != nil {
				return n.Value, true
			}
			return b, true
		case "!!int":
			var i int64
			if err := n.Decode(&i); err == nil {
				return i, true
			}
			w.p.addAt(Pos{n.Line, n.Column}, path, "integer %s is out of range", n.Value)
			return nil, false
		case "!!float":
			var f float64
			if err := n.Decode(&f); err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
				w.p.addAt(Pos{n.Line, n.Column}, path, "%s is not a finite number", n.Value)
				return nil, false
			}
			return f, true
		default:
			return n.Value, true
		}
	default:
		w.p.addAt(Pos{n.Line, n.Column}, path, "alias cannot be resolved")
		return nil, false
	}
}

func (w *walker) duration(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		hint := ""
		if n.Kind == yaml.ScalarNode && (n.ShortTag() == "!!int" || n.ShortTag() == "!!float") {
			hint = fmt.Sprintf("; write it with a unit, such as %ss", n.Value)
		}
		w.p.addAt(Pos{n.Line, n.Column}, path, "want a duration such as 90s or 2m, got %s%s", describe(n), hint)
		return
	}
	d, err := ParseDuration(n.Value)
	if err != nil {
		w.p.addAt(Pos{n.Line, n.Column}, path, "%v", err)
		return
	}
	v.Set(reflect.ValueOf(d))
}

func (w *walker) scalar(n *yaml.Node, v reflect.Value, path string) {
	at := Pos{n.Line, n.Column}
	if n.Kind != yaml.ScalarNode {
		w.p.addAt(at, path, "want %s, got %s", kindWord(v.Kind()), describe(n))
		return
	}
	tag := n.ShortTag()
	switch v.Kind() {
	case reflect.String:
		// Any scalar is taken as written: `cpu: 8` and `version: 1.20` mean
		// the text, not a number that would lose its trailing zero.
		v.SetString(n.Value)
	case reflect.Bool:
		b, err := strconv.ParseBool(n.Value)
		if tag != "!!bool" || err != nil {
			w.p.addAt(at, path, "want true or false, got %s", describe(n))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var i int64
		if tag != "!!int" || n.Decode(&i) != nil {
			w.p.addAt(at, path, "want an integer, got %s", describe(n))
			return
		}
		if v.OverflowInt(i) {
			w.p.addAt(at, path, "integer %s is out of range", n.Value)
			return
		}
		v.SetInt(i)
	case reflect.Float32, reflect.Float64:
		var f float64
		if (tag != "!!int" && tag != "!!float") || n.Decode(&f) != nil {
			w.p.addAt(at, path, "want a number, got %s", describe(n))
			return
		}
		v.SetFloat(f)
	default:
		w.p.addAt(at, path, "cannot decode into %s", v.Type())
	}
}

func kindWord(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Float32, reflect.Float64:
		return "a number"
	default:
		return "an integer"
	}
}

// describe says what a node is, for "want X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.DocumentNode:
		return "a document"
	}
	v := n.Value
	if len(v) > 40 {
		v = v[:37] + "..."
	}
	switch n.ShortTag() {
	case "!!str":
		return fmt.Sprintf("the string %q", v)
	case "!!int", "!!float":
		return "the number " + v
	case "!!bool":
		return v
	default:
		return strconv.Quote(v)
	}
}

// join appends a field name to a path.
func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}
