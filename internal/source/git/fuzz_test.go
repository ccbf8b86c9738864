package git

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/memory"
)

// FuzzParseURL checks that an accepted URL prints without its user or any
// password, and parses back to the same place.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"https://github.com/org/r.git", "https://u:p@h/r", "git@github.com:org/r.git", "ssh://git@[::1]:22/r",
		"file:///srv/r.git", "http://h:0/x", "h:-x", "git://h/r", "https://h/r?x#y", "ssh://u@h:99999/r",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := ParseURL(raw)
		if err != nil {
			return
		}
		printed := u.String()
		if u.User != "" && strings.Contains(printed, u.User+"@") {
			t.Fatalf("%q prints as %q, with its user", raw, printed)
		}
		if strings.HasPrefix(u.Path, "-") || strings.HasPrefix(raw, "-") {
			t.Fatalf("%q was accepted with a leading dash", raw)
		}
		back, err := ParseURL(printed)
		if err != nil {
			t.Fatalf("%q prints as %q, which does not parse: %v", raw, printed, err)
		}
		if back.Scheme != u.Scheme || back.Host != u.Host || back.Port != u.Port || back.Path != u.Path {
			t.Fatalf("%q -> %+v prints as %q -> %+v", raw, *u, printed, *back)
		}
	})
}

// FuzzRef checks that ref validation and resolution never panic, and
// that an accepted branch name is one git would accept.
func FuzzRef(f *testing.F) {
	for _, s := range []string{"main", "a..b", "v1.2.3", ">=1.0 <2", "~1", "-x", "refs/heads/x", "@{", "0123456789abcdef0123456789abcdef01234567"} {
		f.Add(s, "v1.2.3")
	}
	f.Fuzz(func(t *testing.T, name, tag string) {
		adv := advertised{
			refs:   map[string]plumbing.Hash{"refs/heads/main": plumbing.NewHash("1111111111111111111111111111111111111111"), "refs/tags/" + tag: plumbing.NewHash("2222222222222222222222222222222222222222")},
			peeled: map[string]plumbing.Hash{},
		}
		for _, r := range []Ref{{Branch: name}, {Tag: name}, {Semver: name}, {Commit: name}} {
			if err := r.Validate(); err != nil {
				continue
			}
			if r.Branch != "" {
				if strings.Contains(name, "..") || strings.HasPrefix(name, "-") || strings.ContainsAny(name, " ~^:?*[\\\x00") {
					t.Fatalf("branch %q was accepted", name)
				}
			}
			tgt, err := resolve(r, adv, "https://h/r.git")
			if err == nil && tgt.want.IsZero() {
				t.Fatalf("%+v resolved to the zero hash", r)
			}
		}
	})
}

// FuzzWriterPaths writes a tree of one entry with a fuzzed name, mode and
// content (a symlink's target), nested in a folder, and checks that
// nothing is created outside the snapshot and that whatever was accepted
// resolves inside it.
func FuzzWriterPaths(f *testing.F) {
	for _, s := range []struct {
		name, content string
		link          bool
	}{
		{"a.yaml", "x", false}, {"..", "x", false}, {".git", "x", false}, {"l", "../..", true}, {"l", "/etc", true},
		{"l", "a/../..", true}, {"GIT~1", "", false}, {"a/b", "x", false}, {"l", "../outside", true}, {".", "x", false},
	} {
		f.Add(s.name, s.content, s.link)
	}
	f.Fuzz(func(t *testing.T, name, content string, link bool) {
		if strings.ContainsRune(name, 0) {
			return // a NUL ends a name in a tree object; no tree holds one
		}
		st := memory.NewStorage()
		o := objects{t: t, st: st}
		mode := filemode.Regular
		if link {
			mode = filemode.Symlink
		}
		inner := o.tree(object.TreeEntry{Name: name, Mode: mode, Hash: o.blob(content)})
		tree, err := object.GetTree(st, o.tree(dir("d", inner), regular("z", o.blob("z"))))
		if err != nil {
			t.Fatal(err)
		}
		parent := t.TempDir()
		root := filepath.Join(parent, "snap")
		_, err = writeSnapshot(context.Background(), st, tree, "", root, Limits{Files: 10, TotalBytes: 1 << 20, FileBytes: 1 << 20}, nil, nil)
		entries, _ := os.ReadDir(parent)
		if len(entries) != 1 {
			t.Fatalf("entry %q (link %v, %q) created %v beside the snapshot", name, link, content, entries)
		}
		if err != nil {
			return
		}
		if CheckName(name) != nil {
			t.Fatalf("the name %q was written though CheckName refuses it", name)
		}
		real, err := filepath.EvalSymlinks(root)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(real, "d", name)
		if resolved, err := evalLenient(p); err == nil && !within(real, resolved) {
			t.Fatalf("entry %q (link %v, %q) resolves to %s, outside %s", name, link, content, resolved, real)
		}
	})
}
