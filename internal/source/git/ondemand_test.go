package git

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/envctl/envctl/internal/source"
	"github.com/envctl/envctl/internal/source/git/gittest"
)

// onDemandRepo commits files and symlinks (name -> "->target") under
// deploy/ of a new repository and returns the folder's path.
func onDemandRepo(t *testing.T, files map[string]string) string {
	t.Helper()
	gittest.NeedGit(t)
	work := t.TempDir()
	gittest.Git(t, work, "init", "-q", "-b", "main")
	for rel, content := range files {
		p := filepath.Join(work, "deploy", filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		if target, ok := strings.CutPrefix(content, "->"); ok {
			err = os.Symlink(target, p)
		} else {
			err = os.WriteFile(p, []byte(content), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	gittest.Git(t, work, "add", "-A")
	gittest.Git(t, work, "commit", "-q", "-m", "c")
	return filepath.Join(work, "deploy")
}

// present lists which of rels exist under root.
func present(root string, rels ...string) map[string]bool {
	out := map[string]bool{}
	for _, rel := range rels {
		_, err := os.Lstat(filepath.Join(root, filepath.FromSlash(rel)))
		out[rel] = err == nil
	}
	return out
}

// TestRevisionWritesWhatIsReached: a preview's base holds, before any
// path is resolved, its root's files and its symlinks only; resolving a
// path writes what it reaches (the file, or the directory whole, and what
// symlinks lead to), as the render's reads would find it in a snapshot
// written whole.
func TestRevisionWritesWhatIsReached(t *testing.T) {
	deploy := onDemandRepo(t, map[string]string{
		"config.yaml":                "kind: Config\n",
		"apps/web/kustomization.yml": "resources: [svc.yaml, shared.yaml]\n",
		"apps/web/svc.yaml":          "svc\n",
		"apps/web/shared.yaml":       "->../../common/shared.yaml",
		"apps/web/deep/x.yaml":       "x\n",
		"common/shared.yaml":         "shared\n",
		"common/other.yaml":          "other\n",
		"alias":                      "->apps/web",
		"src/a.go":                   "package a\n",
		"src/b.go":                   "package b\n",
		"src/sub/c.go":               "package c\n",
	})
	r := &Revision{Dir: deploy, Rev: "main"}
	snap, err := r.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	all := []string{"config.yaml", "apps/web/svc.yaml", "apps/web/shared.yaml", "apps/web/deep/x.yaml",
		"common/shared.yaml", "common/other.yaml", "alias", "src/a.go", "src/b.go", "src/sub/c.go"}
	want := func(step string, rels ...string) {
		t.Helper()
		got := present(snap.Root, all...)
		for _, rel := range all {
			if got[rel] != strings.Contains(" "+strings.Join(rels, " ")+" ", " "+rel+" ") {
				t.Errorf("%s: %s present = %v; want present exactly %v", step, rel, got[rel], rels)
			}
		}
	}
	want("before any path is resolved", "config.yaml", "apps/web/shared.yaml", "alias")

	// A directory is written whole, and the file its symlink leads to.
	p, err := snap.Resolve("apps/web")
	if err != nil {
		t.Fatal(err)
	}
	want("apps/web resolved", "config.yaml", "apps/web/shared.yaml", "alias", "apps/web/svc.yaml", "apps/web/deep/x.yaml", "common/shared.yaml")
	if data, err := os.ReadFile(filepath.Join(p, "shared.yaml")); err != nil || string(data) != "shared\n" {
		t.Errorf("apps/web/shared.yaml reads %q, %v", data, err)
	}

	// A file is written alone; through a symlink, where the link leads.
	if _, err := snap.Resolve("src/b.go"); err != nil {
		t.Fatal(err)
	}
	want("src/b.go resolved", "config.yaml", "apps/web/shared.yaml", "alias", "apps/web/svc.yaml", "apps/web/deep/x.yaml", "common/shared.yaml", "src/b.go")
	p, err = snap.Resolve("alias/svc.yaml")
	if err != nil || p != filepath.Join(snap.Root, "apps", "web", "svc.yaml") {
		t.Errorf("alias/svc.yaml resolves to %s, %v", p, err)
	}

	// A path the tree does not hold writes nothing and stays missing.
	if p, err = snap.Resolve("src/none.yaml"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a path the tree lacks: %v", err)
	}

	// The root, resolved, is the tree whole.
	if _, err := snap.Resolve("."); err != nil {
		t.Fatal(err)
	}
	want("the root resolved", all...)
	if data, err := os.ReadFile(filepath.Join(snap.Root, "src", "sub", "c.go")); err != nil || string(data) != "package c\n" {
		t.Errorf("src/sub/c.go reads %q, %v", data, err)
	}

	// Once closed, the root is gone and resolving writes nothing.
	root := snap.Root
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := source.Confine(root, "src/a.go"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(root); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after Close the snapshot remains: %v", err)
	}
}

// TestRevisionChecksTheWholeTree: what a written snapshot refuses, one
// written on demand refuses too: before any file is reached, a symlink out
// of the root, a loop, and too many entries, in folders no render names;
// a file over the size limits when it is reached.
func TestRevisionChecksTheWholeTree(t *testing.T) {
	limits := Limits{Files: 100, TotalBytes: 250, FileBytes: 150}
	for _, tt := range []struct {
		name   string
		files  map[string]string
		limits Limits
		// reach is the path resolved when the snapshot itself is taken.
		reach string
		want  string
	}{
		{"an escaping symlink", map[string]string{"config.yaml": "c\n", "unused/out": "->../../../etc/passwd"}, Limits{}, "", "resolves outside the snapshot"},
		{"a loop of symlinks", map[string]string{"config.yaml": "c\n", "unused/a": "->b", "unused/b": "->a"}, Limits{}, "", `a symlink to "b"`},
		{"too many entries", map[string]string{"config.yaml": "c\n", "unused/a": "a", "unused/b": "b", "unused/c": "c"}, Limits{Files: 3}, "", "over the limit of 3 entries"},
		{"a file too large", map[string]string{"config.yaml": "c\n", "app/big": strings.Repeat("x", 200)}, limits, "app", "over the per-file limit of 150"},
		{"files too large in all", map[string]string{"config.yaml": "c\n", "app/a": strings.Repeat("a", 100), "app/b": strings.Repeat("b", 100), "app/c": strings.Repeat("c", 100)}, limits, "app", "over the limit of 250"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := &Revision{Dir: onDemandRepo(t, tt.files), Rev: "main", Limits: tt.limits}
			defer r.Close()
			snap, err := r.Snapshot(context.Background())
			if err == nil && tt.reach != "" {
				_, err = snap.Resolve(tt.reach)
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error saying %q", err, tt.want)
			}
		})
	}
}

// TestIndexAnswersWithoutWriting: Stat and TreeHash of a base written on
// demand answer from its index and write nothing; TreeHash names what the
// work tree holds as the index names the commit's, so that a render can
// tell an unchanged folder without reading the base's files.
func TestIndexAnswersWithoutWriting(t *testing.T) {
	deploy := onDemandRepo(t, map[string]string{
		"config.yaml":            "c\n",
		"apps/web/k.yaml":        "k\n",
		"apps/web/deep/x.yaml":   "x\n",
		"apps/api/k.yaml":        "api\n",
		"apps/linked/k.yaml":     "->../web/k.yaml",
		"alias":                  "->apps/web",
		"tools/run.sh":           "#!/bin/sh\n",
		"tools/z.yaml":           "z\n",
		"tools/a-b/c.yaml":       "c\n",
		"tools/a/c.yaml":         "c\n",
		"values/prod.yaml":       "replicas: 3\n",
		"values/nested/one.yaml": "1\n",
	})
	if err := os.Chmod(filepath.Join(deploy, "tools", "run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	gittest.Git(t, deploy, "add", "-A")
	gittest.Git(t, deploy, "commit", "-q", "-m", "exec")
	// Untracked beside tracked: an empty directory (Git has no name for it).
	if err := os.MkdirAll(filepath.Join(deploy, "apps", "web", "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := &Revision{Dir: deploy, Rev: "main"}
	snap, err := r.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	head := deploy

	for _, rel := range []string{"apps/web", "apps/api", "tools", "tools/run.sh", "values", "values/prod.yaml", "nothing/here"} {
		b, okB := source.TreeHash(snap.Root, rel)
		h, okH := source.TreeHash(head, rel)
		if !okB || !okH || b != h {
			t.Errorf("%s: base %q (%v), work tree %q (%v); want the same name", rel, b, okB, h, okH)
		}
	}
	for _, rel := range []string{"apps", "apps/linked", "alias", "alias/k.yaml"} {
		if name, ok := source.TreeHash(snap.Root, rel); ok {
			t.Errorf("%s: base named %q through or around a symlink", rel, name)
		}
		if name, ok := source.TreeHash(head, rel); ok {
			t.Errorf("%s: work tree named %q through or around a symlink", rel, name)
		}
	}
	for rel, dir := range map[string]bool{"apps/web": true, "alias/deep/x.yaml": false, "tools/run.sh": false} {
		st, err := source.Stat(snap.Root, rel)
		if err != nil || st.IsDir() != dir {
			t.Errorf("Stat %s: %v, %v; want a directory: %v", rel, st, err, dir)
		}
	}
	if _, err := source.Stat(snap.Root, "apps/none"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Stat of a missing path: %v", err)
	}
	if _, err := source.Stat(snap.Root, "../x"); err == nil {
		t.Error("Stat of a path out of the root: no error")
	}
	if got := present(snap.Root, "apps/web/k.yaml", "apps/api/k.yaml", "tools/run.sh", "values/prod.yaml"); slices.Contains(slices.Collect(maps.Values(got)), true) {
		t.Errorf("the index's answers wrote files: %v", got)
	}

	// A change in the work tree changes the name.
	if err := os.WriteFile(filepath.Join(head, "values", "nested", "one.yaml"), []byte("2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(head, "tools", "run.sh"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{"values", "tools"} {
		b, _ := source.TreeHash(snap.Root, rel)
		if h, _ := source.TreeHash(head, rel); b == h {
			t.Errorf("%s: the same name %q after a change in the work tree", rel, h)
		}
	}
}
