package render

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestDecodeManifests(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		want  []string // kind/name of each object
		err   []string // substrings of the error
		noErr bool
	}{
		{
			name: "helm stream with sources and empty documents",
			in: "---\n# Source: demo/templates/a.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n" +
				"---\n# Source: demo/templates/empty.yaml\n\n---\n---\n# only a comment\n" +
				"--- # a separator with a comment\napiVersion: v1\nkind: Secret\nmetadata:\n  name: b\n",
			want: []string{"ConfigMap/a", "Secret/b"},
		},
		{
			name: "document end markers and CRLF",
			in:   "apiVersion: v1\r\nkind: ConfigMap\r\nmetadata:\r\n  name: a\r\n...\r\napiVersion: v1\r\nkind: ConfigMap\r\nmetadata:\r\n  name: b\r\n",
			want: []string{"ConfigMap/a", "ConfigMap/b"},
		},
		{
			name: "a v1 List is expanded",
			in:   "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: a}\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: b}\n",
			want: []string{"ConfigMap/a", "ConfigMap/b"},
		},
		{
			name: "a null document is empty",
			in:   "null\n---\n~\n",
		},
		{
			name: "YAML error points at the template's line",
			in:   "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\n# Source: demo/templates/b.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n bad: [\n",
			// Lines count from the template's "# Source:" comment. The parser
			// blames the line before the stray indentation, as it would in
			// the file on its own: line 4 of the rendered template.
			err: []string{"demo/templates/b.yaml: line 4"},
		},
		{
			name: "YAML error in a plain stream counts from its start",
			in:   "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n bad: [\n",
			err:  []string{"test.yaml: line 9"},
		},
		{
			name: "no kind",
			in:   "apiVersion: v1\nmetadata:\n  name: a\n",
			err:  []string{"test.yaml: document at line 1: object has no kind"},
		},
		{
			name: "no apiVersion",
			in:   "kind: ConfigMap\nmetadata:\n  name: a\n",
			err:  []string{`ConfigMap "a" has no apiVersion`},
		},
		{
			name: "no name",
			in:   "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  labels: {a: b}\n",
			err:  []string{"ConfigMap has no metadata.name"},
		},
		{
			name: "not a mapping",
			in:   "- a\n- b\n",
			err:  []string{"is not a Kubernetes object"},
		},
		{
			name: "labels that are not strings",
			in:   "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  labels:\n    replicas: 3\n",
			err:  []string{"metadata.labels cannot hold a number"},
		},
		{
			name: "null labels and annotations, as a template leaves them",
			in:   "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  labels:\n  annotations:\nspec: {}\n",
			want: []string{"Service/a"},
		},
		{
			name: "two JSON objects in a row",
			in:   `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}` + "\n" + `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"b"}}`,
			want: []string{"ConfigMap/a", "ConfigMap/b"},
		},
		{
			name: "a JSON object, then YAML documents",
			in:   `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}` + "\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n",
			want: []string{"ConfigMap/a", "ConfigMap/b"},
		},
		{
			name: "a YAML flow mapping",
			in:   "{apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n",
			want: []string{"ConfigMap/a"},
		},
		{
			name: "a List whose items are null",
			in:   "apiVersion: v1\nkind: List\nitems:\n",
		},
		{
			name: "a kind-specific List's items take its kind",
			in:   "apiVersion: v1\nkind: ConfigMapList\nitems:\n- metadata: {name: a}\n- apiVersion: v1\n  kind: Secret\n  metadata: {name: b}\n",
			want: []string{"ConfigMap/a", "Secret/b"},
		},
		{
			name: "a separator followed by content",
			in:   "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n--- {kind: ConfigMap}\n",
			err:  []string{"test.yaml: line 5: a document separator (---) followed by more than a comment"},
		},
		{
			name: "metadata kubectl cannot decode names the field, not the value",
			in:   "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  creationTimestamp: " + canary + "\n",
			err:  []string{"test.yaml: document at line 1: metadata does not decode"},
		},
		{
			name: "a finalizer that is a number",
			in:   "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  finalizers: [3]\n",
			err:  []string{"metadata.finalizers cannot hold a number"},
		},
		{
			name: "a JSON stream broken after two objects, without the content",
			in: `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}` + "\n" + `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"b"}}` +
				"\n{\"kind\": \"Secret\", " + canary + "}\n",
			err: []string{"test.yaml: line 3: invalid JSON"},
		},
		{
			name: "a JSON value that is not an object",
			in:   `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}` + "\n" + `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"b"}}` + "\n[1]\n",
			err:  []string{"test.yaml: JSON value at line 3 is not a Kubernetes object"},
		},
		{
			name: "a comment that is not UTF-8",
			in:   "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\n# \xb3\n",
			err:  []string{"test.yaml: document at line 6"},
		},
		{
			name: "a no-break space is content, not a blank",
			in:   "\u00a0\n",
			err:  []string{"is not a Kubernetes object"},
		},
		{
			name: "a secret value never appears in an error",
			in:   "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  password: " + canary + "\n  other: {\n",
			err:  []string{"test.yaml: line"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := decodeManifests([]byte(tt.in), "test.yaml")
			if len(tt.err) > 0 {
				if err == nil {
					t.Fatalf("decoded %d objects, want an error", len(objs))
				}
				for _, w := range tt.err {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
				if strings.Contains(err.Error(), canary) {
					t.Errorf("error contains the secret value: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, o := range objs {
				got = append(got, o.GetKind()+"/"+o.GetName())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestDecodeNormalizesMetadata checks that null labels, annotations and
// values, and an empty namespace, are held as the API server stores them,
// so that what envctl reads of them is what the server will hold.
func TestDecodeNormalizesMetadata(t *testing.T) {
	objs, err := decodeManifests([]byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: \"\"\n  labels:\n    tier:\n  annotations: ~\n"+
		"---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  namespace:\n  labels:\n  annotations:\n    note:\ndata:\n  key:\n"), "x")
	if err != nil {
		t.Fatal(err)
	}
	want := []map[string]any{
		{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "a", "labels": map[string]any{"tier": ""}}},
		// Only metadata, which envctl reads, is normalized; data is sent
		// as written, as kubectl sends it.
		{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "b", "annotations": map[string]any{"note": ""}}, "data": map[string]any{"key": nil}},
	}
	var got []map[string]any
	for _, o := range objs {
		got = append(got, o.Object)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if l := objs[0].GetLabels(); l["tier"] != "" || len(l) != 1 {
		t.Errorf("labels = %v, want tier=\"\" readable", l)
	}
}

// TestDecodeIntegers checks that integers stay integers: unstructured
// objects must hold int64, not float64, for the apply engine's comparisons.
func TestDecodeIntegers(t *testing.T) {
	objs, err := decodeManifests([]byte("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: a\nspec:\n  replicas: 3\n"), "x")
	if err != nil {
		t.Fatal(err)
	}
	if n, ok, err := unstructured.NestedInt64(objs[0].Object, "spec", "replicas"); !ok || err != nil || n != 3 {
		t.Errorf("replicas = %v, %v, %v; want int64 3", n, ok, err)
	}
}

// FuzzDecodeManifests feeds arbitrary streams to the splitter and decoder:
// they must never panic, and whatever they accept must be complete objects
// that survive a deep copy.
func FuzzDecodeManifests(f *testing.F) {
	seeds := []string{
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
		"---\n# Source: x/templates/a.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\n",
		"apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: b}\n",
		"--- # c\n...\n---\nnull\n",
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n bad: [\n",
		"- a\n- b\n",
		"apiVersion: v1\nkind: X\nmetadata: 3\n",
		"apiVersion: v1\nkind: X\nmetadata:\n  name: a\n  labels: [1]\n",
		"apiVersion: v1\r\nkind: ConfigMap\r\nmetadata:\r\n  name: a\r\n",
		"a: &x [*x]\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, err := decodeManifests(data, "fuzz.yaml")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yaml") && !strings.Contains(err.Error(), ": ") {
				t.Errorf("error does not name the source: %v", err)
			}
			return
		}
		for _, o := range objs {
			if o.GetKind() == "" || o.GetAPIVersion() == "" || o.GetName() == "" {
				t.Fatalf("accepted an incomplete object: %v", o.Object)
			}
			_ = o.DeepCopy()
		}
	})
}

// TestDecodeAsKubectl checks, for each kind of input that templates and
// editors produce, the objects envctl reads (or its error), and that they
// are the objects kubectl reads from the same stream, less the metadata
// envctl holds as the server stores it.
func TestDecodeAsKubectl(t *testing.T) {
	const cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n"
	tests := []struct {
		name string
		in   string
		// want is the JSON of each object read; err a substring of the
		// error when the stream is refused, as kubectl refuses it.
		want []string
		err  string
	}{
		{
			name: "null metadata maps and lists",
			in:   cm + "  labels:\n  annotations: ~\n  finalizers:\n  ownerReferences:\ndata:\n",
			want: []string{`{"apiVersion":"v1","data":null,"kind":"ConfigMap","metadata":{"finalizers":null,"name":"a","ownerReferences":null}}`},
		},
		{
			name: "empty metadata maps are kept",
			in:   cm + "  labels: {}\n  annotations: {}\n",
			want: []string{`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"annotations":{},"labels":{},"name":"a"}}`},
		},
		{
			name: "null label and annotation values are the server's empty string",
			in:   cm + "  labels:\n    tier:\n  annotations:\n    note: ~\n",
			want: []string{`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"annotations":{"note":""},"labels":{"tier":""},"name":"a"}}`},
		},
		{
			name: "a JSON stream with a duplicate key: the last wins",
			in:   `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","name":"a"}}` + "\n" + `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"b"}}` + "\n",
			want: []string{`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}`, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"b"}}`},
		},
		{
			name: "a JSON List",
			in:   `{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}]}`,
			want: []string{`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}`},
		},
		{
			name: "an empty List",
			in:   "apiVersion: v1\nkind: List\nitems: []\n",
		},
		{
			name: "a kind-specific List of a custom resource",
			in:   "apiVersion: example.com/v1\nkind: WidgetList\nitems:\n- metadata: {name: a}\n  spec: {size: 3}\n",
			want: []string{`{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"a"},"spec":{"size":3}}`},
		},
		{
			name: "a List item without apiVersion in a v1 List",
			in:   "apiVersion: v1\nkind: List\nitems:\n- kind: ConfigMap\n  metadata: {name: a}\n",
			err:  "list item 0: ConfigMap \"a\" has no apiVersion",
		},
		{
			name: "a separator followed by content on the first line",
			in:   "--- apiVersion: v1\nkind: ConfigMap\n",
			err:  "test.yaml: line 1: a document separator (---) followed by more than a comment",
		},
		{
			name: "a separator opening the stream with a comment and no blank is YAML content",
			in:   "---#0\n" + cm,
			err:  "test.yaml: line 2: ",
		},
		{
			name: "a separator opening the stream alone is YAML content (found by FuzzDecodeAgainstKubectl)",
			in:   "---#0",
			err:  "test.yaml: document at line 1 is not a Kubernetes object",
		},
		{
			name: "after a separator or a document, a separator with a comment and no blank separates",
			in:   "---\n---#c\n" + cm + "---#c\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n",
			want: []string{`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}`, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"b"}}`},
		},
		{
			name: "end markers opening a document",
			in:   "...\n" + cm + "...\n... # end\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n",
			want: []string{`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}`, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"b"}}`},
		},
		{
			name: "an end marker with no blank before a comment is YAML content",
			in:   cm + "...#c\n",
			err:  "could not find expected ':'",
		},
		{
			name: "a byte-order mark",
			in:   "\ufeff" + cm,
			want: []string{`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}`},
		},
		{
			name: "a byte-order mark on the second document",
			in:   cm + "---\n\ufeffapiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n",
			want: []string{`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}`, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"b"}}`},
		},
		{
			name: "CRLF line endings, in a block scalar too",
			in:   strings.ReplaceAll(cm+"data:\n  k: |\n    x\n    y\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n", "\n", "\r\n"),
			want: []string{`{"apiVersion":"v1","data":{"k":"x\ny\n"},"kind":"ConfigMap","metadata":{"name":"a"}}`, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"b"}}`},
		},
		{
			name: "a block scalar ending a stream with no final newline ends with one, as kubectl reads it",
			in:   cm + "data:\n  script: |\n    echo hi",
			want: []string{`{"apiVersion":"v1","data":{"script":"echo hi\n"},"kind":"ConfigMap","metadata":{"name":"a"}}`},
		},
		{
			name: "a UTF-16 byte-order mark with nothing after it (found by FuzzDecodeAgainstKubectl)",
			in:   "\xff\xfe",
			err:  "test.yaml: document at line 1: yaml: incomplete UTF-16 character",
		},
		{
			name: "a tab indenting a key",
			in:   "apiVersion: v1\nkind: ConfigMap\nmetadata:\n\tname: a\n",
			err:  "test.yaml: line 4: found character that cannot start any token",
		},
		{
			name: "a tab after a colon and at the end of a line",
			in:   "apiVersion: v1\nkind: ConfigMap\t\nmetadata:\n  name:\ta\n",
			want: []string{`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}`},
		},
		{
			name: "a document holding only a tab",
			in:   cm + "---\n\t\n",
			err:  "test.yaml: document at line 6: yaml: found character that cannot start any token",
		},
		{
			name: "timestamps stay the strings written",
			in:   cm + "  annotations:\n    day: 2001-12-14\ndata:\n  at: 2001-12-14 21:59:43.10 -5\n",
			want: []string{`{"apiVersion":"v1","data":{"at":"2001-12-14 21:59:43.10 -5"},"kind":"ConfigMap","metadata":{"annotations":{"day":"2001-12-14"},"name":"a"}}`},
		},
		{
			name: "duplicate keys: the last wins",
			in:   cm + "  name: b\n  labels:\n    tier: first\n    tier: second\n",
			want: []string{`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"labels":{"tier":"second"},"name":"b"}}`},
		},
		{
			name: "anchors, aliases and merge keys",
			in:   cm + "  labels: &l\n    tier: web\n  annotations:\n    <<: *l\n    note: x\ndata: *l\n",
			want: []string{`{"apiVersion":"v1","data":{"tier":"web"},"kind":"ConfigMap","metadata":{"annotations":{"note":"x","tier":"web"},"labels":{"tier":"web"},"name":"a"}}`},
		},
		{
			name: "comment-only documents hold no object",
			in:   "# generated\n---\n" + cm + "---\n  # the end\n",
			want: []string{`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}`},
		},
		{
			name: "a stream of comments only",
			in:   "# nothing here\n---\n# nor here\n",
		},
		{
			name: "a YAML 1.1 boolean as a label value",
			in:   cm + "  labels:\n    enabled: on\n",
			err:  "metadata.labels cannot hold a bool (it takes string)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := decodeManifests([]byte(tt.in), "test.yaml")
			// "..." ends a document for envctl, on purpose; kubectl is
			// given "---" there.
			kobjs, kerr := kubectlDecode(endMarkersAsSeparators([]byte(tt.in)))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("err = %v, want one saying %q", err, tt.err)
				}
				if kerr == nil && len(kobjs) > 0 && applicable(kobjs[0]) {
					t.Errorf("kubectl reads the stream; envctl should too")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, o := range objs {
				b, err := json.Marshal(o.Object)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, string(b))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("objects (-want +got):\n%s", diff)
			}
			if kerr != nil {
				t.Fatalf("kubectl refuses what envctl reads: %v", kerr)
			}
			var want []string
			for _, o := range kobjs {
				normalizeMetadata(o)
				b, _ := json.Marshal(o.Object)
				want = append(want, string(b))
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("objects differ from kubectl's (-kubectl +envctl):\n%s", diff)
			}
		})
	}
}
