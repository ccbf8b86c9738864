package plan

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestUnifiedDiff(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want string
	}{
		{name: "equal", a: "x\ny\n", b: "x\ny\n", want: ""},
		{
			name: "one line changed among many",
			a:    "1\n2\n3\n4\n5\n6\n7\n8\n9\n",
			b:    "1\n2\n3\n4\nfive\n6\n7\n8\n9\n",
			want: "--- a\n+++ b\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n",
		},
		{
			name: "create",
			a:    "",
			b:    "kind: ConfigMap\nname: x\n",
			want: "--- a\n+++ b\n@@ -0,0 +1,2 @@\n+kind: ConfigMap\n+name: x\n",
		},
		{
			name: "insertion after line 3",
			a:    "1\n2\n3\n",
			b:    "1\n2\n3\n4\n",
			want: "--- a\n+++ b\n@@ -1,3 +1,4 @@\n 1\n 2\n 3\n+4\n",
		},
		{
			name: "two distant changes give two hunks",
			a:    "a\n1\n2\n3\n4\n5\n6\n7\n8\nb\n",
			b:    "A\n1\n2\n3\n4\n5\n6\n7\n8\nB\n",
			want: "--- a\n+++ b\n@@ -1,4 +1,4 @@\n-a\n+A\n 1\n 2\n 3\n@@ -7,4 +7,4 @@\n 6\n 7\n 8\n-b\n+B\n",
		},
		{
			name: "changes close together share a hunk",
			a:    "a\n1\n2\n3\n4\n5\n6\nb\n",
			b:    "A\n1\n2\n3\n4\n5\n6\nB\n",
			want: "--- a\n+++ b\n@@ -1,8 +1,8 @@\n-a\n+A\n 1\n 2\n 3\n 4\n 5\n 6\n-b\n+B\n",
		},
		{
			name: "single line range",
			a:    "x\n",
			b:    "y\n",
			want: "--- a\n+++ b\n@@ -1 +1 @@\n-x\n+y\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := unifiedDiff("a", "b", tt.a, tt.b, 3)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("diff (-want +got):\n%s", diff)
			}
		})
	}
}

// apply rebuilds the new text from the old one and an edit script, checking
// that the script is consistent with both texts.
func applyScript(t *testing.T, a, b []string, ops []op) []string {
	t.Helper()
	var out []string
	ai, bi := 0, 0
	for _, o := range ops {
		switch o.kind {
		case opEqual:
			if o.a != ai || o.b != bi || a[o.a] != b[o.b] {
				t.Fatalf("bad equal op %+v at a=%d b=%d", o, ai, bi)
			}
			out = append(out, a[ai])
			ai++
			bi++
		case opDelete:
			if o.a != ai {
				t.Fatalf("bad delete op %+v at a=%d", o, ai)
			}
			ai++
		case opInsert:
			if o.b != bi {
				t.Fatalf("bad insert op %+v at b=%d", o, bi)
			}
			out = append(out, b[bi])
			bi++
		}
	}
	if ai != len(a) || bi != len(b) {
		t.Fatalf("script consumed %d/%d old and %d/%d new lines", ai, len(a), bi, len(b))
	}
	return out
}

func TestEditScriptIsMinimal(t *testing.T) {
	tests := []struct {
		a, b  string
		edits int
	}{
		{a: "abcabba", b: "cbabac", edits: 5},
		{a: "", b: "abc", edits: 3},
		{a: "abc", b: "", edits: 3},
		{a: "abc", b: "abc", edits: 0},
		{a: "xaxbxc", b: "abc", edits: 3},
	}
	for _, tt := range tests {
		a, b := strings.Split(tt.a, ""), strings.Split(tt.b, "")
		ops := editScript(a, b)
		if got := applyScript(t, a, b, ops); !cmp.Equal(got, b, cmp.Comparer(func(x, y []string) bool { return strings.Join(x, "") == strings.Join(y, "") })) {
			t.Errorf("%q -> %q: script gives %q", tt.a, tt.b, got)
		}
		n := 0
		for _, o := range ops {
			if o.kind != opEqual {
				n++
			}
		}
		if n != tt.edits {
			t.Errorf("%q -> %q: %d edits, want %d", tt.a, tt.b, n, tt.edits)
		}
	}
}

func TestEditScriptLargeFallsBack(t *testing.T) {
	var a, b []string
	for i := range 3 * maxEditDistance {
		a = append(a, fmt.Sprintf("old %d", i))
		b = append(b, fmt.Sprintf("new %d", i))
	}
	ops := editScript(a, b)
	applyScript(t, a, b, ops)
	if len(ops) != len(a)+len(b) {
		t.Errorf("got %d ops, want every line deleted and inserted", len(ops))
	}
}

func FuzzEditScript(f *testing.F) {
	f.Add("a\nb\nc\n", "a\nc\nd\n")
	f.Add("", "x\n")
	f.Add("same\n", "same\n")
	f.Fuzz(func(t *testing.T, a, b string) {
		al, bl := splitLines(a), splitLines(b)
		got := applyScript(t, al, bl, editScript(al, bl))
		if strings.Join(got, "\n") != strings.Join(bl, "\n") {
			t.Fatalf("script does not rebuild the new text")
		}
		d := unifiedDiff("a", "b", a, b, 3)
		if (d == "") != (strings.Join(al, "\n") == strings.Join(bl, "\n") && len(al) == len(bl)) {
			t.Fatalf("diff emptiness wrong for %q vs %q: %q", a, b, d)
		}
	})
}
