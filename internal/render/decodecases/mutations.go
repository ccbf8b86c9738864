package decodecases

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

// Path is a way input reaches envctl.
type Path string

// The ways in: a manifests directory, a kustomization, a chart template.
const (
	Manifests Path = "manifests"
	Kustomize Path = "kustomize"
	Helm      Path = "helm"
)

// Paths are every way in, in table order.
var Paths = []Path{Manifests, Kustomize, Helm}

// Mutation changes a base as a template or an editor would.
type Mutation struct {
	Name string
	// Apply returns the changed document, or false when the mutation does
	// not fit the base.
	Apply func(b Base) (string, bool)
	// JSON marks a JSON document, kept in a .json file.
	JSON bool
	// Bases limits the mutation to these bases; every base when empty.
	Bases []string
	// Paths limits the ways in; every way when empty.
	Paths []Path
}

// Fits says whether m applies to b through p.
func (m Mutation) Fits(b Base, p Path) bool {
	return (len(m.Bases) == 0 || slices.Contains(m.Bases, b.Name)) && (len(m.Paths) == 0 || slices.Contains(m.Paths, p))
}

// Case is one mutation of one base.
type Case struct {
	Base     Base
	Mutation Mutation
	Doc      string
}

// Cases returns every mutation of every base it fits, in table order.
func Cases() []Case {
	var out []Case
	for _, m := range Mutations() {
		for _, b := range Bases {
			if len(m.Bases) > 0 && !slices.Contains(m.Bases, b.Name) {
				continue
			}
			doc, ok := m.Apply(b)
			if !ok {
				continue
			}
			out = append(out, Case{Base: b, Mutation: m, Doc: doc})
		}
	}
	return out
}

// nameLine is the line of a base's own name.
func nameLine(b Base) string {
	i := strings.Index(b.Doc, "metadata:\n  name: ")
	if i < 0 {
		panic("base " + b.Name + " has no metadata.name line")
	}
	rest := b.Doc[i+len("metadata:\n"):]
	return rest[:strings.IndexByte(rest, '\n')+1]
}

// meta adds lines to the base's metadata, after its name.
func meta(lines ...string) func(Base) (string, bool) {
	return func(b Base) (string, bool) {
		nl := nameLine(b)
		return strings.Replace(b.Doc, nl, nl+strings.Join(lines, "\n")+"\n", 1), true
	}
}

// setName replaces the value of the base's name.
func setName(value string) func(Base) (string, bool) {
	return func(b Base) (string, bool) {
		return strings.Replace(b.Doc, nameLine(b), "  name: "+value+"\n", 1), true
	}
}

// edit replaces old with new in the base's document; it does not fit a
// base without old.
func edit(old, new string) func(Base) (string, bool) {
	return func(b Base) (string, bool) {
		if !strings.Contains(b.Doc, old) {
			return "", false
		}
		return strings.Replace(b.Doc, old, new, 1), true
	}
}

// line replaces the base's first line that starts with prefix by repl
// (several lines, or none to remove it).
func line(prefix string, repl ...string) func(Base) (string, bool) {
	return func(b Base) (string, bool) {
		lines := strings.SplitAfter(b.Doc, "\n")
		for i, l := range lines {
			if strings.HasPrefix(l, prefix) {
				var r string
				for _, x := range repl {
					r += x + "\n"
				}
				lines[i] = r
				return strings.Join(lines, ""), true
			}
		}
		return "", false
	}
}

// text changes the whole document.
func text(f func(b Base) string) func(Base) (string, bool) {
	return func(b Base) (string, bool) { return f(b), true }
}

// renamed is the base with "-2" after its name, a second object.
func renamed(b Base) string {
	nl := nameLine(b)
	return strings.Replace(b.Doc, nl, strings.TrimSuffix(nl, "\n")+"-2\n", 1)
}

// indent indents every line of doc by prefix, for a List item.
func indent(doc, first, rest string) string {
	lines := strings.Split(strings.TrimSuffix(doc, "\n"), "\n")
	for i := range lines {
		if i == 0 {
			lines[i] = first + lines[i]
		} else {
			lines[i] = rest + lines[i]
		}
	}
	return strings.Join(lines, "\n") + "\n"
}

// apiVersionOf returns the base's apiVersion.
func apiVersionOf(b Base) string {
	line, _, _ := strings.Cut(strings.TrimPrefix(b.Doc, "apiVersion: "), "\n")
	return line
}

func toJSON(doc string) string {
	j, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		panic(err)
	}
	return string(j)
}

func prettyJSON(doc string) string {
	var b bytes.Buffer
	if err := json.Indent(&b, []byte(toJSON(doc)), "", "  "); err != nil {
		panic(err)
	}
	return b.String() + "\n"
}

// A few of every kind stand for all where what varies is the stream, not
// the object: a namespaced core kind, a custom resource, a cluster-scoped
// kind.
var streamBases = []string{"ConfigMap", "Widget"}

// Mutations of metadata take a few more, a Secret (whose values no error may
// quote) and a workload among them.
var metaBases = []string{"ConfigMap", "Secret", "Deployment", "Widget", "ClusterRole"}

// long returns a string of n copies of s.
func long(s string, n int) string { return strings.Repeat(s, n) }

// Mutations are the changes real templates and editors make, grouped as the
// issue lists them.
func Mutations() []Mutation {
	all := []Mutation{{Name: "unchanged", Apply: text(func(b Base) string { return b.Doc })}}
	all = append(all, nullsAndEmpties()...)
	all = append(all, scalars()...)
	all = append(all, structure()...)
	all = append(all, streams()...)
	all = append(all, sizes()...)
	all = append(all, helmHooks()...)
	return all
}

// nullsAndEmpties: null and empty maps, lists and strings, as a template
// writes a key whose value is empty ("annotations:" and nothing under it).
func nullsAndEmpties() []Mutation {
	return []Mutation{
		{Name: "labels: (null)", Apply: meta("  labels:"), Bases: metaBases},
		{Name: "labels: null", Apply: meta("  labels: null"), Bases: metaBases},
		{Name: "labels: {}", Apply: meta("  labels: {}"), Bases: metaBases},
		{Name: "annotations: (null)", Apply: meta("  annotations:"), Bases: metaBases},
		{Name: "annotations: ~", Apply: meta("  annotations: ~"), Bases: metaBases},
		{Name: "annotations: {}", Apply: meta("  annotations: {}"), Bases: metaBases},
		{Name: "label value (null)", Apply: meta("  labels:", "    tier:"), Bases: metaBases},
		{Name: "annotation value (null)", Apply: meta("  annotations:", "    note:"), Bases: metaBases},
		{Name: `label value ""`, Apply: meta("  labels:", `    tier: ""`), Bases: metaBases},
		{Name: `annotation value ""`, Apply: meta("  annotations:", `    note: ""`), Bases: metaBases},
		{Name: `namespace: ""`, Apply: meta(`  namespace: ""`), Bases: metaBases},
		{Name: "namespace: (null)", Apply: meta("  namespace:"), Bases: metaBases},
		{Name: "finalizers: (null)", Apply: meta("  finalizers:"), Bases: metaBases},
		{Name: "finalizers: []", Apply: meta("  finalizers: []"), Bases: metaBases},
		{Name: "ownerReferences: (null)", Apply: meta("  ownerReferences:"), Bases: metaBases},
		{Name: "creationTimestamp: null", Apply: meta("  creationTimestamp: null"), Bases: metaBases},
		{Name: "status: {}", Apply: text(func(b Base) string { return b.Doc + "status: {}\n" }), Bases: metaBases},
		{Name: "status: (null)", Apply: text(func(b Base) string { return b.Doc + "status:\n" }), Bases: metaBases},
		{Name: "metadata: (null)", Apply: func(b Base) (string, bool) {
			return strings.Replace(b.Doc, "metadata:\n"+nameLine(b), "metadata:\n", 1), true
		}, Bases: []string{"ConfigMap", "Namespace"}},
		{Name: `name: ""`, Apply: setName(`""`), Bases: metaBases},
		{Name: "name: (null)", Apply: setName(""), Bases: metaBases},
		{Name: `apiVersion: ""`, Apply: line("apiVersion: ", `apiVersion: ""`), Bases: streamBases},
		{Name: `kind: ""`, Apply: line("kind: ", `kind: ""`), Bases: streamBases},
		{Name: "data: (null)", Apply: edit("data:\n  key: value\n", "data:\n")},
		{Name: "data: {}", Apply: edit("data:\n  key: value\n", "data: {}\n")},
		{Name: "data value (null)", Apply: edit("  key: value\n", "  key:\n")},
		{Name: `data value ""`, Apply: edit("  key: value\n", "  key: \"\"\n")},
		{Name: "binaryData: (null)", Apply: edit("\ndata:\n", "\nbinaryData:\ndata:\n")},
		{Name: "stringData: (null)", Apply: edit("stringData:\n  password: difftest-canary-2718\n", "stringData:\n")},
		{Name: "stringData value (null)", Apply: edit("  password: difftest-canary-2718\n", "  password:\n")},
		{Name: "selector: (null)", Apply: edit("  selector:\n    app: web\n  ports:", "  selector:\n  ports:")},
		{Name: "ports: (null)", Apply: edit("  ports:\n  - name: http\n    port: 80\n    targetPort: 8080\n", "  ports:\n")},
		{Name: "ports: []", Apply: edit("  ports:\n  - name: http\n    port: 80\n    targetPort: 8080\n", "  ports: []\n")},
		{Name: "template annotations: (null)", Apply: edit("    metadata:\n      labels:\n", "    metadata:\n      annotations:\n      labels:\n")},
		{Name: "env: (null)", Apply: edit("        env:\n        - name: MODE\n          value: fast\n", "        env:\n")},
		{Name: "env: []", Apply: edit("        env:\n        - name: MODE\n          value: fast\n", "        env: []\n")},
		{Name: "env value (null)", Apply: edit("          value: fast\n", "          value:\n")},
		{Name: "resources: (null)", Apply: edit("        image: example.com/web:1\n", "        image: example.com/web:1\n        resources:\n")},
		{Name: "resources: {}", Apply: edit("        image: example.com/web:1\n", "        image: example.com/web:1\n        resources: {}\n")},
		{Name: "replicas: (null)", Apply: edit("  replicas: 1\n", "  replicas:\n")},
		{Name: "spec: (null)", Apply: edit("spec:\n  size: 3\n  color: blue\n  tags:\n  - a\n", "spec:\n")},
		{Name: "tags: (null)", Apply: edit("  tags:\n  - a\n", "  tags:\n")},
		{Name: "size: (null)", Apply: edit("  size: 3\n", "  size:\n")},
		{Name: "rules: (null)", Apply: edit("rules:\n- apiGroups:\n  - \"\"\n  resources:\n  - configmaps\n  verbs:\n  - get\n  - list\n", "rules:\n")},
		{Name: "rules: []", Apply: edit("rules:\n- apiGroups:\n  - \"\"\n  resources:\n  - configmaps\n  verbs:\n  - get\n  - list\n", "rules: []\n")},
		{Name: "shortNames: (null)", Apply: edit("    listKind: GadgetList\n", "    listKind: GadgetList\n    shortNames:\n")},
		{Name: "spec: {} (Namespace)", Apply: text(func(b Base) string { return b.Doc + "spec: {}\n" }), Bases: []string{"Namespace"}},
	}
}

// scalars: numbers and booleans where strings belong and the reverse, and
// the YAML 1.1 scalars that YAML 1.2 reads otherwise.
func scalars() []Mutation {
	return []Mutation{
		{Name: "label value 3", Apply: meta("  labels:", "    tier: 3"), Bases: streamBases},
		{Name: "label value on", Apply: meta("  labels:", "    tier: on"), Bases: streamBases},
		{Name: "annotation value true", Apply: meta("  annotations:", "    note: true"), Bases: streamBases},
		{Name: "annotation value yes", Apply: meta("  annotations:", "    note: yes"), Bases: streamBases},
		{Name: "annotation value 1.5", Apply: meta("  annotations:", "    note: 1.5"), Bases: streamBases},
		{Name: "annotation value 0777", Apply: meta("  annotations:", "    note: 0777"), Bases: streamBases},
		{Name: `annotation value "yes"`, Apply: meta("  annotations:", `    note: "yes"`), Bases: streamBases},
		{Name: "annotation value 2001-12-14", Apply: meta("  annotations:", "    note: 2001-12-14"), Bases: streamBases},
		{Name: "name: 123", Apply: setName("123"), Bases: streamBases},
		{Name: "name: yes", Apply: setName("yes"), Bases: streamBases},
		{Name: "data value 3", Apply: edit("  key: value\n", "  key: 3\n")},
		{Name: "data value on", Apply: edit("  key: value\n", "  key: on\n")},
		{Name: "data value 0777", Apply: edit("  key: value\n", "  key: 0777\n")},
		{Name: "data value 0x1F", Apply: edit("  key: value\n", "  key: 0x1F\n")},
		{Name: "data value 1e3", Apply: edit("  key: value\n", "  key: 1e3\n")},
		{Name: "data value 2001-12-14", Apply: edit("  key: value\n", "  key: 2001-12-14\n")},
		{Name: "data value 2001-12-14 21:59:43.10 -5", Apply: edit("  key: value\n", "  key: 2001-12-14 21:59:43.10 -5\n")},
		{Name: "data value 0o777", Apply: edit("  key: value\n", "  key: 0o777\n")},
		{Name: "data value 0b101", Apply: edit("  key: value\n", "  key: 0b101\n")},
		{Name: "data value .inf", Apply: edit("  key: value\n", "  key: .inf\n")},
		{Name: "stringData value no", Apply: edit("  password: difftest-canary-2718\n", "  password: no\n")},
		{Name: "env value 3", Apply: edit("          value: fast\n", "          value: 3\n")},
		{Name: "env value off", Apply: edit("          value: fast\n", "          value: off\n")},
		{Name: `replicas: "1"`, Apply: edit("  replicas: 1\n", "  replicas: \"1\"\n")},
		{Name: "replicas: 1.0", Apply: edit("  replicas: 1\n", "  replicas: 1.0\n")},
		{Name: "replicas: 1.5", Apply: edit("  replicas: 1\n", "  replicas: 1.5\n")},
		{Name: "replicas: 0x1", Apply: edit("  replicas: 1\n", "  replicas: 0x1\n")},
		{Name: "replicas: 1_0", Apply: edit("  replicas: 1\n", "  replicas: 1_0\n")},
		{Name: `containerPort: "8080"`, Apply: edit("containerPort: 8080\n", "containerPort: \"8080\"\n")},
		{Name: `port: "80"`, Apply: edit("    port: 80\n", "    port: \"80\"\n")},
		{Name: `targetPort: "8080"`, Apply: edit("    targetPort: 8080\n", "    targetPort: \"8080\"\n")},
		{Name: "targetPort: http", Apply: edit("    targetPort: 8080\n", "    targetPort: http\n")},
		{Name: "defaultMode: 0644", Apply: edit("        - containerPort: 8080\n", "        - containerPort: 8080\n      volumes:\n      - name: cfg\n        configMap:\n          name: cfg\n          defaultMode: 0644\n")},
		{Name: `defaultMode: "0644"`, Apply: edit("        - containerPort: 8080\n", "        - containerPort: 8080\n      volumes:\n      - name: cfg\n        configMap:\n          name: cfg\n          defaultMode: \"0644\"\n")},
		{Name: "automountServiceAccountToken: yes", Apply: edit("      containers:\n", "      automountServiceAccountToken: yes\n      containers:\n")},
		{Name: `automountServiceAccountToken: "true"`, Apply: edit("      containers:\n", "      automountServiceAccountToken: \"true\"\n      containers:\n")},
		{Name: `size: "3"`, Apply: edit("  size: 3\n", "  size: \"3\"\n")},
		{Name: "color: 3", Apply: edit("  color: blue\n", "  color: 3\n")},
		{Name: "tags: [on]", Apply: edit("  tags:\n  - a\n", "  tags:\n  - on\n")},
		{Name: "served: yes", Apply: edit("    served: true\n", "    served: yes\n")},
		{Name: `served: "true"`, Apply: edit("    served: true\n", "    served: \"true\"\n")},
	}
}

// structure: duplicate keys, anchors and merge keys, fields in the wrong
// shape, and what envctl itself relies on (apiVersion, kind, name).
func structure() []Mutation {
	return []Mutation{
		{Name: "duplicate name key, same value", Apply: func(b Base) (string, bool) {
			nl := nameLine(b)
			return strings.Replace(b.Doc, nl, nl+nl, 1), true
		}, Bases: streamBases},
		{Name: "duplicate name key, other value", Apply: func(b Base) (string, bool) {
			nl := nameLine(b)
			return strings.Replace(b.Doc, nl, strings.TrimSuffix(nl, "\n")+"-x\n"+nl, 1), true
		}, Bases: streamBases},
		{Name: "duplicate label key", Apply: meta("  labels:", "    tier: a", "    tier: b"), Bases: streamBases},
		{Name: "duplicate top-level key", Apply: line("metadata:", "kind: Other", "metadata:"), Bases: streamBases},
		{Name: "duplicate data key", Apply: edit("  key: value\n", "  key: value\n  key: other\n")},
		{Name: "anchor and alias", Apply: meta("  labels: &l", "    tier: a", "  annotations: *l"), Bases: streamBases},
		{Name: "merge key", Apply: meta("  labels: &l", "    tier: a", "  annotations:", "    <<: *l", "    note: b"), Bases: streamBases},
		{Name: "merge key overridden", Apply: meta("  labels: &l", "    tier: a", "  annotations:", "    <<: *l", "    tier: b"), Bases: streamBases},
		{Name: "selector anchored in template", Apply: edit("    matchLabels:\n      app: web\n  template:\n    metadata:\n      labels:\n        app: web\n",
			"    matchLabels: &sel\n      app: web\n  template:\n    metadata:\n      labels: *sel\n")},
		{Name: "labels: [] (a list)", Apply: meta("  labels: []"), Bases: streamBases},
		{Name: "annotations: a string", Apply: meta("  annotations: note"), Bases: streamBases},
		{Name: "metadata: []", Apply: func(b Base) (string, bool) {
			return strings.Replace(b.Doc, "metadata:\n"+nameLine(b), "metadata: []\n", 1), true
		}, Bases: streamBases},
		{Name: "no apiVersion", Apply: line("apiVersion: "), Bases: streamBases},
		{Name: "no kind", Apply: line("kind: "), Bases: streamBases},
		{Name: "generateName, no name", Apply: text(func(b Base) string {
			return strings.Replace(b.Doc, nameLine(b), "  generateName: difftest-\n", 1)
		}), Bases: streamBases},
		{Name: "unknown kind", Apply: line("kind: ", "kind: Gizmo"), Bases: streamBases},
		{Name: "unknown field", Apply: text(func(b Base) string { return b.Doc + "spek: {}\n" }), Bases: streamBases},
		{Name: "unknown metadata field", Apply: meta("  labelz: {}"), Bases: streamBases},
		{Name: "apiVersion with a space", Apply: func(b Base) (string, bool) {
			return line("apiVersion: ", `apiVersion: "`+apiVersionOf(b)+` "`)(b)
		}, Bases: streamBases},
	}
}

// streams: how documents are put in a file: separators, empty and comment
// documents, byte-order marks, line endings, tabs, List kinds and JSON.
func streams() []Mutation {
	second := func(sep string) func(Base) (string, bool) {
		return func(b Base) (string, bool) { return b.Doc + sep + renamed(b), true }
	}
	list := func(apiVersion, kind string) func(Base) (string, bool) {
		return func(b Base) (string, bool) {
			av, k := apiVersion, kind
			if av == "" {
				av, k = apiVersionOf(b), b.Name+"List"
			}
			return "apiVersion: " + av + "\nkind: " + k + "\nitems:\n" + indent(b.Doc, "- ", "  ") + indent(renamed(b), "- ", "  "), true
		}
	}
	return []Mutation{
		{Name: "two documents", Apply: second("---\n"), Bases: streamBases},
		{Name: "the same object twice", Apply: text(func(b Base) string { return b.Doc + "---\n" + b.Doc }), Bases: streamBases},
		{Name: "leading empty documents", Apply: text(func(b Base) string { return "---\n---\n" + b.Doc }), Bases: streamBases},
		{Name: "leading comment-only document", Apply: text(func(b Base) string { return "# generated\n---\n" + b.Doc }), Bases: streamBases},
		{Name: "trailing comment-only document", Apply: text(func(b Base) string { return b.Doc + "---\n# end\n" }), Bases: streamBases},
		{Name: "null document", Apply: text(func(b Base) string { return "~\n---\n" + b.Doc }), Bases: streamBases},
		{Name: "separator with a comment", Apply: second("--- # next\n"), Bases: streamBases},
		{Name: "document end marker", Apply: text(func(b Base) string { return b.Doc + "...\n" }), Bases: streamBases},
		{Name: "document end marker, then a document", Apply: second("...\n"), Bases: streamBases},
		{Name: "%YAML directive", Apply: text(func(b Base) string { return "%YAML 1.1\n---\n" + b.Doc }), Bases: streamBases},
		{Name: "no final newline", Apply: text(func(b Base) string { return strings.TrimSuffix(b.Doc, "\n") }), Bases: streamBases},
		{Name: "indented comment lines", Apply: meta("  # a comment", "    # another"), Bases: streamBases},
		{Name: "byte-order mark", Apply: text(func(b Base) string { return "\ufeff" + b.Doc }), Bases: streamBases},
		{Name: "byte-order mark on the second document", Apply: second("---\n\ufeff"), Bases: streamBases},
		{Name: "CRLF", Apply: text(func(b Base) string { return strings.ReplaceAll(b.Doc, "\n", "\r\n") }), Bases: streamBases},
		{Name: "CRLF, two documents", Apply: text(func(b Base) string {
			return strings.ReplaceAll(b.Doc+"---\n"+renamed(b), "\n", "\r\n")
		}), Bases: streamBases},
		{Name: "tab indentation", Apply: text(func(b Base) string { return strings.Replace(b.Doc, "\n  name: ", "\n\tname: ", 1) }), Bases: streamBases},
		{Name: "tab after a colon", Apply: text(func(b Base) string { return strings.Replace(b.Doc, "\n  name: ", "\n  name:\t", 1) }), Bases: streamBases},
		{Name: "trailing tab", Apply: func(b Base) (string, bool) { return line("kind: ", "kind: "+b.Name+"\t")(b) }, Bases: streamBases},
		{Name: "tab in a quoted value", Apply: meta("  annotations:", `    note: "a	b"`), Bases: streamBases},
		{Name: "v1 List", Apply: list("v1", "List"), Bases: streamBases},
		{Name: "kind-specific List", Apply: list("", ""), Bases: streamBases},
		{Name: "empty List", Apply: text(func(b Base) string { return "apiVersion: v1\nkind: List\nitems: []\n" }), Bases: []string{"ConfigMap"}},
		{Name: "List, items: (null)", Apply: text(func(b Base) string { return "apiVersion: v1\nkind: List\nitems:\n" }), Bases: []string{"ConfigMap"}},
		{Name: "List in a List", Apply: text(func(b Base) string {
			return "apiVersion: v1\nkind: List\nitems:\n" + indent("apiVersion: v1\nkind: List\nitems:\n"+indent(b.Doc, "- ", "  "), "- ", "  ")
		}), Bases: streamBases},
		{Name: "List item without apiVersion", Apply: text(func(b Base) string {
			return "apiVersion: v1\nkind: List\nitems:\n" + indent(b.Doc[strings.IndexByte(b.Doc, '\n')+1:], "- ", "  ")
		}), Bases: streamBases},
		{Name: "JSON", JSON: true, Apply: text(func(b Base) string { return toJSON(b.Doc) + "\n" }), Bases: streamBases},
		{Name: "JSON, indented", JSON: true, Apply: text(func(b Base) string { return prettyJSON(b.Doc) }), Bases: streamBases},
		{Name: "JSON in a .yaml file", Apply: text(func(b Base) string { return prettyJSON(b.Doc) }), Bases: streamBases},
		{Name: "two JSON objects", JSON: true, Apply: text(func(b Base) string { return prettyJSON(b.Doc) + prettyJSON(renamed(b)) }), Bases: streamBases},
		{Name: "JSON array", JSON: true, Apply: text(func(b Base) string { return "[" + toJSON(b.Doc) + "]\n" }), Bases: streamBases},
		{Name: "JSON, duplicate key", JSON: true, Apply: text(func(b Base) string {
			j := toJSON(b.Doc)
			return `{"kind":"Other",` + j[1:] + "\n"
		}), Bases: streamBases},
		{Name: "JSON List", JSON: true, Apply: text(func(b Base) string {
			return `{"apiVersion":"v1","kind":"List","items":[` + toJSON(b.Doc) + "," + toJSON(renamed(b)) + "]}\n"
		}), Bases: streamBases},
		{Name: "YAML flow mapping", Apply: text(func(b Base) string {
			return strings.ReplaceAll(toJSON(b.Doc), `":`, `": `) + "\n"
		}), Bases: streamBases},
	}
}

// sizes: very long strings and names beyond ASCII.
func sizes() []Mutation {
	return []Mutation{
		{Name: "annotation of 100 KiB", Apply: meta("  annotations:", "    note: "+long("a", 100<<10)), Bases: []string{"ConfigMap"}},
		{Name: "annotations over 256 KiB", Apply: meta("  annotations:", "    note: "+long("a", 260<<10)), Bases: []string{"ConfigMap"}},
		{Name: "label value of 64 characters", Apply: meta("  labels:", "    tier: "+long("a", 64)), Bases: streamBases},
		{Name: "name of 63 characters", Apply: setName(long("a", 63)), Bases: streamBases},
		{Name: "name of 253 characters", Apply: setName(long("a", 253)), Bases: streamBases},
		{Name: "name of 254 characters", Apply: setName(long("a", 254)), Bases: streamBases},
		{Name: "non-ASCII name", Apply: setName("café"), Bases: streamBases},
		{Name: "non-ASCII label value", Apply: meta("  labels:", "    tier: café"), Bases: streamBases},
		{Name: "non-ASCII annotation value", Apply: meta("  annotations:", "    note: 日本語 ✓"), Bases: streamBases},
		{Name: "U+2028 in a quoted annotation", Apply: meta("  annotations:", "    note: \"a\u2028b\""), Bases: streamBases},
		{Name: "non-ASCII data key", Apply: edit("  key: value\n", "  clé: value\n")},
		{Name: "emoji data value", Apply: edit("  key: value\n", "  key: 🙂\n")},
	}
}

// helmHooks: objects that Helm reads as hooks (their helm.sh/hook
// annotation), which Helm splits from the release's manifest and envctl
// decodes one hook at a time; through the other ways in they are plain
// annotations.
func helmHooks() []Mutation {
	return []Mutation{
		{Name: "Helm hook", Apply: meta("  annotations:", "    helm.sh/hook: pre-install"), Bases: streamBases},
		{Name: "Helm hook, weight and delete policy", Apply: meta("  annotations:", "    helm.sh/hook: pre-install,post-install",
			`    helm.sh/hook-weight: "-5"`, "    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded"), Bases: streamBases},
		{Name: "Helm hook, null annotation values", Apply: meta("  annotations:", "    helm.sh/hook: pre-install", "    helm.sh/hook-weight:"), Bases: streamBases},
		{Name: "Helm hook List", Apply: text(func(b Base) string {
			return "apiVersion: v1\nkind: List\nmetadata:\n  annotations:\n    helm.sh/hook: pre-install\nitems:\n" +
				indent(b.Doc, "- ", "  ") + indent(renamed(b), "- ", "  ")
		}), Bases: streamBases},
	}
}

// Describe names a case for a table: base, mutation.
func (c Case) Describe() string { return fmt.Sprintf("%s / %s", c.Base.Name, c.Mutation.Name) }
