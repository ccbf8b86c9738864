package render

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/envctl/envctl/internal/source"
)

func TestConfinedFS(t *testing.T) {
	outside := t.TempDir()
	write(t, outside, "secret.txt", canary)
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	write(t, root, "base/a.yaml", "a: 1\n")
	write(t, root, "base/b.yaml", "b: 1\n")
	symlink(t, filepath.Join(outside, "secret.txt"), filepath.Join(root, "base/link.yaml"))
	symlink(t, outside, filepath.Join(root, "ext"))
	symlink(t, filepath.Join(root, "base"), filepath.Join(root, "alias"))

	fsys := newConfinedFS(root, false)
	in := func(p string) string { return filepath.Join(root, p) }

	if _, err := fsys.ReadFile(in("base/a.yaml")); err != nil {
		t.Errorf("ReadFile inside the root: %v", err)
	}
	if _, err := fsys.ReadFile(in("alias/a.yaml")); err != nil {
		t.Errorf("ReadFile through a symlink that stays inside: %v", err)
	}
	for _, p := range []string{in("base/link.yaml"), in("ext/secret.txt"), filepath.Join(outside, "secret.txt"), in("../x")} {
		b, err := fsys.ReadFile(p)
		var ee *source.EscapeError
		if !errors.As(err, &ee) {
			t.Errorf("ReadFile(%s) = %q, %v; want an EscapeError", p, b, err)
		}
		if _, err := fsys.Open(p); err == nil {
			t.Errorf("Open(%s) succeeded", p)
		}
		if fsys.Exists(p) {
			t.Errorf("Exists(%s) = true", p)
		}
	}
	if fsys.IsDir(in("ext")) {
		t.Error("IsDir of a symlink to a directory outside = true")
	}
	if !fsys.IsDir(in("base")) {
		t.Error("IsDir inside = false")
	}
	if _, err := fsys.ReadDir(in("ext")); err == nil {
		t.Error("ReadDir of a directory outside succeeded")
	}
	got, err := fsys.Glob(in("base/*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{in("base/a.yaml"), in("base/b.yaml")}, got); diff != "" {
		t.Errorf("Glob keeps what is outside (-want +got):\n%s", diff)
	}
	var walked []string
	err = fsys.Walk(in("base"), func(p string, _ os.FileInfo, err error) error {
		if err == nil {
			walked = append(walked, filepath.Base(p))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"base", "a.yaml", "b.yaml"}, walked); diff != "" {
		t.Errorf("Walk hands over what is outside (-want +got):\n%s", diff)
	}
	if err := fsys.WriteFile(in("base/new.yaml"), []byte("x")); err == nil {
		t.Error("WriteFile succeeded; rendering must not write")
	}
	if err := fsys.RemoveAll(in("base")); err == nil {
		t.Error("RemoveAll succeeded; rendering must not delete")
	}
	if _, err := os.Stat(in("base/a.yaml")); err != nil {
		t.Errorf("the repository was changed: %v", err)
	}
	if fsys.escape() == nil {
		t.Error("no escape recorded")
	}
}

func TestIsRemote(t *testing.T) {
	tests := map[string]bool{
		"../base":                         false,
		"deployment.yaml":                 false,
		"github.com/org/repo//dir?ref=v1": true,
		"GitHub.com/org/repo":             true,
		"https://example.com/x.yaml":      true,
		"http://example.com/x.yaml":       true,
		"git::https://example.com/r.git":  true,
		"ssh://git@example.com/r.git":     true,
		"git@github.com:org/repo.git":     true,
		"file:///tmp/repo":                true,
		"gitlab.com/org/repo":             true,
		"my.app/base":                     false,
	}
	for entry, want := range tests {
		if got := isRemote(entry); got != want {
			t.Errorf("isRemote(%q) = %v, want %v", entry, got, want)
		}
	}
}
