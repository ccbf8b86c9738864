package source

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/envctl/envctl/internal/errs"
)

func TestConfine(t *testing.T) {
	outside := t.TempDir()
	root := t.TempDir()
	root, _ = filepath.EvalSymlinks(root)
	must(t, os.MkdirAll(filepath.Join(root, "bases", "app"), 0o755))
	must(t, os.WriteFile(filepath.Join(root, "bases", "app", "kustomization.yaml"), nil, 0o644))
	must(t, os.Symlink(outside, filepath.Join(root, "out")))
	must(t, os.Symlink(filepath.Join(root, "bases"), filepath.Join(root, "in")))

	tests := []struct {
		name    string
		rel     string
		want    string
		escapes bool
	}{
		{name: "plain", rel: "bases/app", want: filepath.Join(root, "bases", "app")},
		{name: "dot segments inside", rel: "bases/../bases/app", want: filepath.Join(root, "bases", "app")},
		{name: "symlink inside", rel: "in/app", want: filepath.Join(root, "bases", "app")},
		{name: "missing file is resolved", rel: "bases/missing/x.yaml", want: filepath.Join(root, "bases", "missing", "x.yaml")},
		{name: "parent", rel: "../etc/passwd", escapes: true},
		{name: "sneaky parent", rel: "bases/../../x", escapes: true},
		{name: "absolute", rel: "/etc/passwd", escapes: true},
		{name: "symlink out", rel: "out/file", escapes: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Confine(root, tt.rel)
			if tt.escapes {
				var ee *EscapeError
				if !errors.As(err, &ee) {
					t.Fatalf("Confine(%q) = %q, %v; want an EscapeError", tt.rel, got, err)
				}
				if errs.KindOf(err) != errs.KindInput {
					t.Errorf("error kind = %v, want input", errs.KindOf(err))
				}
				if ee.Path != tt.rel {
					t.Errorf("error names %q, want %q", ee.Path, tt.rel)
				}
				return
			}
			if err != nil {
				t.Fatalf("Confine(%q): %v", tt.rel, err)
			}
			if got != tt.want {
				t.Errorf("Confine(%q) = %q, want %q", tt.rel, got, tt.want)
			}
		})
	}
}

func TestCheckTree(t *testing.T) {
	outside := t.TempDir()
	root := t.TempDir()
	root, _ = filepath.EvalSymlinks(root)
	chart := filepath.Join(root, "chart")
	must(t, os.MkdirAll(filepath.Join(chart, "templates"), 0o755))
	must(t, os.Symlink(filepath.Join(chart, "templates"), filepath.Join(chart, "alias")))
	if err := CheckTree(root, chart); err != nil {
		t.Fatalf("CheckTree with an inside symlink: %v", err)
	}
	must(t, os.Symlink(outside, filepath.Join(chart, "templates", "leak")))
	err := CheckTree(root, chart)
	var ee *EscapeError
	if !errors.As(err, &ee) || ee.Path != "chart/templates/leak" {
		t.Fatalf("CheckTree = %v; want an EscapeError naming chart/templates/leak", err)
	}
}

func TestLocal(t *testing.T) {
	dir := t.TempDir()
	s, err := Local(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s.Revision, "sha256:") || !filepath.IsAbs(s.Root) {
		t.Errorf("Local = %+v", s)
	}
	if _, err := Local(filepath.Join(dir, "nope")); errs.KindOf(err) != errs.KindInput {
		t.Errorf("Local(missing) kind = %v, want input (err %v)", errs.KindOf(err), err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
