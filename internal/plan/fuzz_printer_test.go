package plan

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/envctl/envctl/internal/object"
)

// applyUnified applies the unified diff d to the lines of a and returns the
// result, or an error when d is malformed or does not fit a.
func applyUnified(a []string, d string) ([]string, error) {
	if d == "" {
		return a, nil
	}
	lines := strings.Split(strings.TrimSuffix(d, "\n"), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "--- ") || !strings.HasPrefix(lines[1], "+++ ") {
		return nil, fmt.Errorf("no header")
	}
	var out []string
	next := 0 // index in a of the next line not yet copied
	for i := 2; i < len(lines); {
		h := lines[i]
		var aStart, aCount int
		if !strings.HasPrefix(h, "@@ -") || len(strings.Fields(h)) < 3 {
			return nil, fmt.Errorf("line %d: %q is not a hunk header", i, h)
		}
		rangeA := strings.Fields(h)[1][1:]
		start, count, ok := strings.Cut(rangeA, ",")
		aStart, _ = strconv.Atoi(start)
		aCount = 1
		if ok {
			aCount, _ = strconv.Atoi(count)
		}
		from := aStart - 1
		if aCount == 0 {
			from = aStart
		}
		if from < next || from > len(a) {
			return nil, fmt.Errorf("hunk %q out of order", h)
		}
		out = append(out, a[next:from]...)
		next = from
		for i++; i < len(lines) && !strings.HasPrefix(lines[i], "@@"); i++ {
			l := lines[i]
			if l == "" {
				return nil, fmt.Errorf("empty diff line")
			}
			switch l[0] {
			case ' ', '-':
				if next >= len(a) || a[next] != l[1:] {
					return nil, fmt.Errorf("line %q does not match the old text", l)
				}
				if l[0] == ' ' {
					out = append(out, l[1:])
				}
				next++
			case '+':
				out = append(out, l[1:])
			default:
				return nil, fmt.Errorf("bad diff line %q", l)
			}
		}
	}
	return append(out, a[next:]...), nil
}

// FuzzDiffPrinter runs the plan's diff printer on two objects made of
// arbitrary keys and values: the diff applies to the live object's YAML
// and gives the after one's, and no value of a Secret, nor a value read
// from one (Options.Sensitive), appears in it whatever the kind.
func FuzzDiffPrinter(f *testing.F) {
	f.Add("ConfigMap", "k", "old value", "new value", "lookup-secret", false)
	f.Add("Secret", "password", "hunter2", "hunter3", "", true)
	f.Add("ConfigMap", "multi", "a\nb\nc", "a\nB\nc", "b", false)
	f.Add("Deployment", "x", "", "lookup-secret-in-here", "lookup-secret", false)
	f.Fuzz(func(t *testing.T, kind, key, oldValue, newValue, sensitive string, secret bool) {
		if secret {
			kind = "Secret"
		}
		obj := func(v string) *unstructured.Unstructured {
			return &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "v1", "kind": kind,
				"metadata": map[string]any{"name": "o", "namespace": "ns"},
				"data":     map[string]any{key: v, "fixed": "unchanged"},
			}}
		}
		c := &computer{opts: Options{Context: 3}}
		if sensitive != "" {
			c.opts.Sensitive = []string{sensitive}
		}
		before, after := obj(oldValue), obj(newValue)
		o := &planned{item: Item{Ref: object.Ref{Kind: kind, Namespace: "ns", Name: "o"}}}
		c.diff(o, before, after)
		if o.item.Action == Error {
			return // YAML cannot hold the key; the error is the plan's
		}
		d := o.item.Diff
		leaks := []string{}
		if kind == "Secret" {
			leaks = append(leaks, oldValue, newValue)
		}
		if len(sensitive) >= minSensitive {
			leaks = append(leaks, sensitive)
		}
		// The key and kind are printed, as YAML writes them; a value that
		// is part of them is not a leak.
		shown := d
		for _, name := range []string{key, kind} {
			if y, err := yaml.Marshal(map[string]string{name: ""}); err == nil {
				printed, _, _ := strings.Cut(string(y), `: ""`)
				shown = strings.ReplaceAll(shown, printed, "")
			}
		}
		for _, v := range leaks {
			// Only values long enough not to be part of the YAML's own text.
			if len(v) >= 8 && strings.Contains(shown, v) && !strings.Contains(key, v) && !strings.Contains(kind, v) {
				t.Fatalf("the diff shows a secret value %q:\n%s", v, d)
			}
		}
		// The diff turns the printed live object into the printed after one.
		b, a := clean(before), clean(after)
		maskSecrets(b, a)
		maskSensitive(b, c.opts.Sensitive)
		maskSensitive(a, c.opts.Sensitive)
		yb, _ := toYAML(b)
		ya, _ := toYAML(a)
		got, err := applyUnified(splitLines(yb), d)
		if err != nil {
			t.Fatalf("the diff does not apply: %v\n%s", err, d)
		}
		if strings.Join(got, "\n") != strings.Join(splitLines(ya), "\n") {
			t.Fatalf("the diff applied gives\n%s\nwant\n%s", strings.Join(got, "\n"), ya)
		}
	})
}
