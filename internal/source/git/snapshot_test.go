package git

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/source/git/gittest"
)

// objects builds Git objects with go-git's object API, which writes
// whatever it is given: the trees an attacker would push.
type objects struct {
	t  testing.TB
	st storer.EncodedObjectStorer
}

func (o objects) blob(content string) plumbing.Hash {
	o.t.Helper()
	obj := o.st.NewEncodedObject()
	obj.SetType(plumbing.BlobObject)
	w, err := obj.Writer()
	if err != nil {
		o.t.Fatal(err)
	}
	if _, err := w.Write([]byte(content)); err != nil {
		o.t.Fatal(err)
	}
	w.Close()
	h, err := o.st.SetEncodedObject(obj)
	if err != nil {
		o.t.Fatal(err)
	}
	return h
}

func (o objects) tree(entries ...object.TreeEntry) plumbing.Hash {
	o.t.Helper()
	sort.Sort(object.TreeEntrySorter(entries))
	obj := o.st.NewEncodedObject()
	if err := (&object.Tree{Entries: entries}).Encode(obj); err != nil {
		o.t.Fatal(err)
	}
	h, err := o.st.SetEncodedObject(obj)
	if err != nil {
		o.t.Fatal(err)
	}
	return h
}

func (o objects) commit(tree plumbing.Hash) plumbing.Hash {
	o.t.Helper()
	sig := object.Signature{Name: "attacker", Email: "a@example.com", When: time.Unix(1700000000, 0)}
	c := &object.Commit{Author: sig, Committer: sig, Message: "evil\n", TreeHash: tree}
	obj := o.st.NewEncodedObject()
	if err := c.Encode(obj); err != nil {
		o.t.Fatal(err)
	}
	h, err := o.st.SetEncodedObject(obj)
	if err != nil {
		o.t.Fatal(err)
	}
	return h
}

func regular(name string, h plumbing.Hash) object.TreeEntry {
	return object.TreeEntry{Name: name, Mode: filemode.Regular, Hash: h}
}
func dir(name string, h plumbing.Hash) object.TreeEntry {
	return object.TreeEntry{Name: name, Mode: filemode.Dir, Hash: h}
}
func symlink(name string, h plumbing.Hash) object.TreeEntry {
	return object.TreeEntry{Name: name, Mode: filemode.Symlink, Hash: h}
}

// TestWriterRefuses builds malicious trees and checks that the writer
// refuses each with an error naming the entry, and that nothing lands
// outside the snapshot.
func TestWriterRefuses(t *testing.T) {
	tests := []struct {
		name   string
		build  func(o objects) plumbing.Hash
		limits Limits
		// want is the path the error must name and a part of its reason.
		wantPath, wantReason string
		limit                bool
	}{
		{name: "dot-dot", wantPath: "..", wantReason: `".."`, build: func(o objects) plumbing.Hash {
			return o.tree(dir("..", o.tree(regular("escape.yaml", o.blob("x")))))
		}},
		{name: ".git/config", wantPath: "sub/.git", wantReason: ".git", build: func(o objects) plumbing.Hash {
			return o.tree(dir("sub", o.tree(dir(".git", o.tree(regular("config", o.blob("[core]\n\tfsmonitor = evil\n")))))))
		}},
		{name: ".GIT in capitals", wantPath: ".GIT", wantReason: ".git", build: func(o objects) plumbing.Hash {
			return o.tree(dir(".GIT", o.tree(regular("config", o.blob("x")))))
		}},
		{name: ".git with a trailing dot", wantPath: ".git.", wantReason: ".git", build: func(o objects) plumbing.Hash {
			return o.tree(dir(".git.", o.tree(regular("config", o.blob("x")))))
		}},
		{name: "short name of .git", wantPath: "GIT~1", wantReason: ".git", build: func(o objects) plumbing.Hash {
			return o.tree(dir("GIT~1", o.tree(regular("config", o.blob("x")))))
		}},
		{name: "slash in a name", wantPath: "a/b", wantReason: "slash", build: func(o objects) plumbing.Hash {
			return o.tree(regular("a/b", o.blob("x")))
		}},
		{name: "symlink out", wantPath: "app/link", wantReason: "resolves outside", build: func(o objects) plumbing.Hash {
			return o.tree(dir("app", o.tree(symlink("link", o.blob("../../../../etc")))))
		}},
		{name: "absolute symlink", wantPath: "passwd", wantReason: "absolute path", build: func(o objects) plumbing.Hash {
			return o.tree(symlink("passwd", o.blob("/etc/passwd")))
		}},
		{name: "symlink out through another symlink", wantPath: "c", wantReason: "resolves outside", build: func(o objects) plumbing.Hash {
			// d/b points at the root, so d/b/.. is its parent, though
			// the text "d/b/.." reads as d.
			return o.tree(dir("d", o.tree(symlink("b", o.blob("..")))), symlink("c", o.blob("d/b/..")))
		}},
		{name: "symlink loop", wantPath: "a", wantReason: "cannot be followed", build: func(o objects) plumbing.Hash {
			return o.tree(symlink("a", o.blob("b")), symlink("b", o.blob("a")))
		}},
		{name: "submodule", wantPath: "vendor/lib", wantReason: "--recurse-submodules", build: func(o objects) plumbing.Hash {
			return o.tree(dir("vendor", o.tree(object.TreeEntry{Name: "lib", Mode: filemode.Submodule, Hash: plumbing.NewHash("0123456789abcdef0123456789abcdef01234567")})))
		}},
		{name: "two entries of one name", wantPath: "x", wantReason: "second entry", build: func(o objects) plumbing.Hash {
			return o.tree(symlink("x", o.blob("..")), dir("x", o.tree(regular("f", o.blob("y")))))
		}},
		{name: "huge file", limits: Limits{FileBytes: 1 << 10}, wantPath: "big.bin", wantReason: "over the per-file limit of 1024", limit: true, build: func(o objects) plumbing.Hash {
			return o.tree(regular("big.bin", o.blob(strings.Repeat("0", 4<<10))), regular("small", o.blob("s")))
		}},
		{name: "too many files", limits: Limits{Files: 3}, wantPath: "f4", wantReason: "over the limit of 3 entries", limit: true, build: func(o objects) plumbing.Hash {
			return o.tree(regular("f1", o.blob("1")), regular("f2", o.blob("2")), regular("f3", o.blob("3")), regular("f4", o.blob("4")))
		}},
		{name: "directories count as entries", limits: Limits{Files: 3}, wantPath: "d4", wantReason: "over the limit of 3 entries", limit: true, build: func(o objects) plumbing.Hash {
			empty := o.tree()
			return o.tree(dir("d1", empty), dir("d2", empty), dir("d3", empty), dir("d4", empty))
		}},
		{name: "one subtree named a thousand times, six deep", limits: Limits{Files: 5000}, wantReason: "over the limit of 5000 entries", limit: true, build: func(o objects) plumbing.Hash {
			// A few kilobytes of trees that expand into 10^18 directories.
			h := o.tree()
			for range 6 {
				var entries []object.TreeEntry
				for i := range 1000 {
					entries = append(entries, dir(fmt.Sprintf("d%03d", i), h))
				}
				h = o.tree(entries...)
			}
			return h
		}},
		{name: "nested too deep", limits: Limits{Depth: 5}, wantPath: "d/d/d/d/d/d", wantReason: "nested 6 deep, over the limit of 5", limit: true, build: func(o objects) plumbing.Hash {
			h := o.tree(regular("f", o.blob("x")))
			for range 6 {
				h = o.tree(dir("d", h))
			}
			return h
		}},
		{name: "nested deeper than the default", wantReason: "over the limit of 64", limit: true, build: func(o objects) plumbing.Hash {
			h := o.tree()
			for range 65 {
				h = o.tree(dir("d", h))
			}
			return h
		}},
		{name: "too many bytes", limits: Limits{TotalBytes: 10}, wantPath: "b", wantReason: "over the limit of 10", limit: true, build: func(o objects) plumbing.Hash {
			return o.tree(regular("a", o.blob("123456")), regular("b", o.blob("123456")))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := memory.NewStorage()
			o := objects{t: t, st: st}
			tree, err := object.GetTree(st, tt.build(o))
			if err != nil {
				t.Fatal(err)
			}
			parent := t.TempDir()
			_, err = writeSnapshot(context.Background(), st, tree, "", filepath.Join(parent, "snap"), tt.limits, nil, nil)
			if tt.limit {
				var le *LimitError
				if !errors.As(err, &le) || tt.wantPath != "" && le.Path != tt.wantPath || !strings.Contains(le.What, tt.wantReason) {
					t.Fatalf("writeSnapshot = %v, want a LimitError naming %q and saying %q", err, tt.wantPath, tt.wantReason)
				}
			} else {
				var pe *PathError
				if !errors.As(err, &pe) || pe.Path != tt.wantPath || !strings.Contains(pe.Reason, tt.wantReason) {
					t.Fatalf("writeSnapshot = %v, want a PathError naming %q and saying %q", err, tt.wantPath, tt.wantReason)
				}
			}
			entries, _ := os.ReadDir(parent)
			if len(entries) != 1 || entries[0].Name() != "snap" {
				t.Errorf("the writer created %v beside the snapshot", entries)
			}
		})
	}
}

// TestWriterKeepsWhatIsSafe writes a tree with executables, nested
// folders and symlinks that stay inside (to a file, to a folder, and one
// whose target does not exist).
func TestWriterKeepsWhatIsSafe(t *testing.T) {
	st := memory.NewStorage()
	o := objects{t: t, st: st}
	h := o.tree(
		regular("config.yaml", o.blob("v: 1\n")),
		object.TreeEntry{Name: "run.sh", Mode: filemode.Executable, Hash: o.blob("#!/bin/sh\n")},
		dir("charts", o.tree(dir("app", o.tree(regular("Chart.yaml", o.blob("name: app\n")))))),
		symlink("current", o.blob("charts/app")),
		dir("env", o.tree(symlink("values.yaml", o.blob("../config.yaml")), symlink("later", o.blob("../not/yet")))),
	)
	tree, _ := object.GetTree(st, h)
	root := filepath.Join(t.TempDir(), "snap")
	got, err := writeSnapshot(context.Background(), st, tree, "", root, DefaultLimits(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Files != 6 {
		t.Errorf("stats %+v, want 6 files", got)
	}
	if data, err := os.ReadFile(filepath.Join(root, "current", "Chart.yaml")); err != nil || string(data) != "name: app\n" {
		t.Errorf("current/Chart.yaml through the folder symlink: %q, %v", data, err)
	}
	if data, err := os.ReadFile(filepath.Join(root, "env", "values.yaml")); err != nil || string(data) != "v: 1\n" {
		t.Errorf("env/values.yaml through the file symlink: %q, %v", data, err)
	}
	if st, err := os.Stat(filepath.Join(root, "run.sh")); err != nil || st.Mode()&0o100 == 0 {
		t.Errorf("run.sh is not executable: %v %v", st, err)
	}
	if target, err := os.Readlink(filepath.Join(root, "env", "later")); err != nil || target != "../not/yet" {
		t.Errorf("the dangling inside link: %q, %v", target, err)
	}
}

// TestMaliciousTreeFromServer pushes a tree with .git/config to the
// served repository and checks that the Source refuses it as bad input and
// leaves no snapshot.
func TestMaliciousTreeFromServer(t *testing.T) {
	f := newFixture(t, gittest.HTTPOptions{})
	f.repo.Write(map[string]string{"config.yaml": "v: 1\n"})
	f.repo.Commit("first")
	bare, err := gogit.PlainOpen(f.repo.Bare)
	if err != nil {
		t.Fatal(err)
	}
	o := objects{t: t, st: bare.Storer}
	evil := o.commit(o.tree(regular("config.yaml", o.blob("v: 1\n")), dir(".git", o.tree(regular("config", o.blob("[core]\n\thooksPath = /tmp\n"))))))
	if err := bare.Storer.SetReference(plumbing.NewHashReference("refs/heads/evil", evil)); err != nil {
		t.Fatal(err)
	}
	s := f.source(func(o *Options) { o.Ref = Ref{Branch: "evil"} })
	_, err = s.Snapshot(context.Background())
	if err == nil || !strings.Contains(err.Error(), `refusing ".git"`) || errs.KindOf(err) != errs.KindInput {
		t.Fatalf("Snapshot of a tree with .git/config = %v (kind %v), want an input error refusing .git", err, errs.KindOf(err))
	}
	snaps, _ := filepath.Glob(filepath.Join(s.dir, "snapshots", "*"))
	tmp, _ := filepath.Glob(filepath.Join(s.dir, "tmp", "*"))
	if len(snaps)+len(tmp) != 0 {
		t.Errorf("the refused tree left %v %v", snaps, tmp)
	}
}

// Submodules count against the limits before they are fetched: a tree
// over the limit names the submodule at fault, and the fetch of it never
// starts.
func TestSubmodulesCountBeforeTheyAreFetched(t *testing.T) {
	st := memory.NewStorage()
	o := objects{t: t, st: st}
	gitlink := func(name string) object.TreeEntry {
		return object.TreeEntry{Name: name, Mode: filemode.Submodule, Hash: plumbing.NewHash("0123456789abcdef0123456789abcdef01234567")}
	}
	h := o.tree(gitlink("a"), gitlink("b"), regular("z", o.blob("x")))
	tree, err := object.GetTree(st, h)
	if err != nil {
		t.Fatal(err)
	}
	var fetched []string
	subs := func(_ context.Context, p string, _ plumbing.Hash) (storer.EncodedObjectStorer, *object.Tree, submoduleFunc, error) {
		fetched = append(fetched, p)
		empty, err := object.GetTree(st, o.tree())
		return st, empty, nil, err
	}
	_, err = writeSnapshot(context.Background(), st, tree, "", filepath.Join(t.TempDir(), "snap"), Limits{Files: 1}, subs, nil)
	var le *LimitError
	if !errors.As(err, &le) || le.Path != "b" || !strings.Contains(le.What, "over the limit of 1 entries") {
		t.Fatalf("writeSnapshot = %v, want a LimitError naming submodule b", err)
	}
	if len(fetched) != 1 || fetched[0] != "a" {
		t.Errorf("fetched %v, want a alone: b was over the limit before its fetch", fetched)
	}
}
