package source

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// gitCmd runs git in dir with a configuration of its own (no user or
// system files) and returns its trimmed output.
func gitCmd(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=envctl", "GIT_AUTHOR_EMAIL=envctl@example.com",
		"GIT_COMMITTER_NAME=envctl", "GIT_COMMITTER_EMAIL=envctl@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func needGit(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("the git binary is not installed; it builds the work trees this test reads")
	}
}

func writeFile(t *testing.T, p, content string) {
	t.Helper()
	must(t, os.MkdirAll(filepath.Dir(p), 0o755))
	must(t, os.WriteFile(p, []byte(content), 0o644))
}

// newWorkTree makes a Git repository with one commit of a config.yaml, an
// app/ folder and an other/ folder, and returns its path and HEAD.
func newWorkTree(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	dir, _ = filepath.EvalSymlinks(dir)
	gitCmd(t, dir, "init", "-q", "-b", "main")
	writeFile(t, filepath.Join(dir, "config.yaml"), "kind: Config\n")
	writeFile(t, filepath.Join(dir, "app", "a.yaml"), "a: 1\n")
	writeFile(t, filepath.Join(dir, "app", "sub", "b.yaml"), "b: 2\n")
	writeFile(t, filepath.Join(dir, "other", "c.yaml"), "c: 3\n")
	must(t, os.Symlink("a.yaml", filepath.Join(dir, "app", "link")))
	writeFile(t, filepath.Join(dir, ".gitignore"), "ignored/\n")
	gitCmd(t, dir, "add", "-A")
	gitCmd(t, dir, "commit", "-q", "-m", "first")
	// The index is written in the same second as the files; let the
	// clock move on, as it does between a checkout and an envctl run, so
	// that the stat data is trusted.
	past := time.Now().Add(-10 * time.Second)
	for _, f := range []string{"config.yaml", "app/a.yaml", "app/sub/b.yaml", "other/c.yaml", ".gitignore"} {
		must(t, os.Chtimes(filepath.Join(dir, f), past, past))
	}
	gitCmd(t, dir, "update-index", "--refresh", "-q")
	return dir, gitCmd(t, dir, "rev-parse", "HEAD")
}

func TestLocalRevisionInWorkTree(t *testing.T) {
	needGit(t)
	tests := []struct {
		name string
		// change edits the work tree; sub is the folder to snapshot.
		change    func(t *testing.T, dir string)
		sub       string
		wantDirty bool
		// wantContent: the folder is not tracked, so its revision is a
		// content hash.
		wantContent bool
	}{
		{name: "clean", change: func(*testing.T, string) {}},
		{name: "untracked file", change: func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "app", "new.yaml"), "new: 1\n")
		}},
		{name: "modified file", wantDirty: true, change: func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "app", "a.yaml"), "a: 2\n")
		}},
		{name: "same size and mtime, other content", wantDirty: true, change: func(t *testing.T, dir string) {
			p := filepath.Join(dir, "app", "sub", "b.yaml")
			st, err := os.Stat(p)
			must(t, err)
			writeFile(t, p, "b: 3\n")
			must(t, os.Chtimes(p, st.ModTime(), st.ModTime()))
		}},
		{name: "touched, same content", change: func(t *testing.T, dir string) {
			now := time.Now().Add(-5 * time.Second)
			must(t, os.Chtimes(filepath.Join(dir, "app", "a.yaml"), now, now))
		}},
		{name: "deleted file", wantDirty: true, change: func(t *testing.T, dir string) {
			must(t, os.Remove(filepath.Join(dir, "app", "sub", "b.yaml")))
		}},
		{name: "executable bit", wantDirty: true, change: func(t *testing.T, dir string) {
			must(t, os.Chmod(filepath.Join(dir, "config.yaml"), 0o755))
		}},
		{name: "retargeted symlink", wantDirty: true, change: func(t *testing.T, dir string) {
			must(t, os.Remove(filepath.Join(dir, "app", "link")))
			must(t, os.Symlink("sub/b.yaml", filepath.Join(dir, "app", "link")))
		}},
		{name: "staged change, work tree reverted", wantDirty: true, change: func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "app", "a.yaml"), "a: staged\n")
			gitCmd(t, dir, "add", "app/a.yaml")
			writeFile(t, filepath.Join(dir, "app", "a.yaml"), "a: 1\n")
		}},
		{name: "staged new file", wantDirty: true, change: func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "app", "new.yaml"), "new: 1\n")
			gitCmd(t, dir, "add", "app/new.yaml")
		}},
		{name: "subfolder clean while another changed", sub: "app", change: func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "other", "c.yaml"), "c: changed\n")
		}},
		{name: "subfolder dirty", sub: "app", wantDirty: true, change: func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "app", "sub", "b.yaml"), "b: changed\n")
		}},
		{name: "ignored folder", sub: "ignored", wantContent: true, change: func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "ignored", "config.yaml"), "kind: Config\n")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir, head := newWorkTree(t)
			tt.change(t, dir)
			snap, err := Local(filepath.Join(dir, tt.sub))
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantContent {
				if !strings.HasPrefix(snap.Revision, "sha256:") {
					t.Errorf("revision %q, want a content hash", snap.Revision)
				}
				return
			}
			want := "sha1:" + head
			if tt.wantDirty {
				want += "-dirty"
			}
			if snap.Revision != want {
				t.Errorf("revision %q, want %q (git status:\n%s)", snap.Revision, want, gitCmd(t, dir, "status", "--short"))
			}
		})
	}
}

// TestLocalRevisionOfLinkedWorkTree reads a work tree made by `git
// worktree add`, whose .git is a file naming a directory in the main
// repository.
func TestLocalRevisionOfLinkedWorkTree(t *testing.T) {
	needGit(t)
	dir, _ := newWorkTree(t)
	writeFile(t, filepath.Join(dir, "app", "a.yaml"), "a: on a branch\n")
	gitCmd(t, dir, "commit", "-q", "-am", "second")
	second := gitCmd(t, dir, "rev-parse", "HEAD")
	linked := filepath.Join(t.TempDir(), "linked")
	gitCmd(t, dir, "worktree", "add", "-q", "--detach", linked, "HEAD~1")
	first := gitCmd(t, linked, "rev-parse", "HEAD")
	if first == second {
		t.Fatal("the linked work tree is at the main one's commit")
	}
	snap, err := Local(linked)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Revision != "sha1:"+first {
		t.Errorf("revision %q, want sha1:%s", snap.Revision, first)
	}
	writeFile(t, filepath.Join(linked, "other", "c.yaml"), "c: dirty\n")
	if snap, err = Local(linked); err != nil || snap.Revision != "sha1:"+first+"-dirty" {
		t.Errorf("after a change: %v, %v; want sha1:%s-dirty", snap, err, first)
	}
}

func TestContentRevision(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "config.yaml"), "kind: Config\n")
	writeFile(t, filepath.Join(dir, "app", "a.yaml"), "a: 1\n")
	rev := func() string {
		t.Helper()
		s, err := Local(dir)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(s.Revision, "sha256:") || len(s.Revision) != len("sha256:")+64 {
			t.Fatalf("revision %q is not sha256:<64 hex>", s.Revision)
		}
		return s.Revision
	}
	first := rev()
	if again := rev(); again != first {
		t.Errorf("two snapshots of the same content: %s, %s", first, again)
	}
	changes := []struct {
		name   string
		change func()
	}{
		{"content", func() { writeFile(t, filepath.Join(dir, "app", "a.yaml"), "a: 2\n") }},
		{"new file", func() { writeFile(t, filepath.Join(dir, "app", "b.yaml"), "") }},
		{"rename", func() { must(t, os.Rename(filepath.Join(dir, "app", "b.yaml"), filepath.Join(dir, "app", "c.yaml"))) }},
		{"executable bit", func() { must(t, os.Chmod(filepath.Join(dir, "app", "c.yaml"), 0o755)) }},
		{"symlink", func() { must(t, os.Symlink("a.yaml", filepath.Join(dir, "app", "l"))) }},
		{"empty folder", func() { must(t, os.Mkdir(filepath.Join(dir, "empty"), 0o755)) }},
	}
	seen := map[string]string{first: "start"}
	for _, c := range changes {
		c.change()
		r := rev()
		if prev, dup := seen[r]; dup {
			t.Errorf("after %s the revision is the one of %s", c.name, prev)
		}
		seen[r] = c.name
	}
}
