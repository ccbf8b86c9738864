package git

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/envctl/envctl/internal/source/git/gittest"
)

// TestRevisionOfASubfolder snapshots the folder deploy/ of a repository at
// an older commit, by name and by hash.
func TestRevisionOfASubfolder(t *testing.T) {
	gittest.NeedGit(t)
	work := t.TempDir()
	gittest.Git(t, work, "init", "-q", "-b", "main")
	write := func(rel, content string) {
		p := filepath.Join(work, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	commit := func() string {
		gittest.Git(t, work, "add", "-A")
		gittest.Git(t, work, "commit", "-q", "-m", "c")
		return gittest.Git(t, work, "rev-parse", "HEAD")
	}
	write("deploy/config.yaml", "one\n")
	write("app/main.go", "package main\n")
	first := commit()
	write("deploy/config.yaml", "two\n")
	write("deploy/extra.yaml", "x\n")
	commit()
	write("app/main.go", "package main // changed\n")
	commit()

	deploy := filepath.Join(work, "deploy")
	for _, tt := range []struct{ rev, revision string }{
		{"HEAD~2", "HEAD~2@sha1:" + first},
		{first[:10], "sha1:" + first},
	} {
		r := &Revision{Dir: deploy, Rev: tt.rev}
		snap, err := r.Snapshot(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if snap.Revision != tt.revision || filepath.Base(snap.Root) != "deploy" {
			t.Errorf("%s: revision %s at %s, want %s in a folder named deploy", tt.rev, snap.Revision, snap.Root, tt.revision)
		}
		data, err := os.ReadFile(filepath.Join(snap.Root, "config.yaml"))
		if err != nil || string(data) != "one\n" {
			t.Errorf("%s: config.yaml %q, %v; want the first commit's", tt.rev, data, err)
		}
		if _, err := os.Stat(filepath.Join(snap.Root, "extra.yaml")); err == nil {
			t.Errorf("%s: the snapshot holds a later commit's file", tt.rev)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// The snapshot is temporary.
	r := &Revision{Dir: deploy, Rev: "main"}
	snap, err := r.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	if _, err := os.Stat(snap.Root); !os.IsNotExist(err) {
		t.Errorf("Close left the temporary snapshot: %v", err)
	}

	_, err = (&Revision{Dir: deploy, Rev: "no-such-branch"}).Snapshot(context.Background())
	if err == nil || !strings.Contains(err.Error(), "no such commit in the repository of "+deploy) {
		t.Errorf("an unknown revision: %v", err)
	}
	_, err = (&Revision{Dir: t.TempDir(), Rev: "main"}).Snapshot(context.Background())
	if err == nil || !strings.Contains(err.Error(), "is not in a Git work tree") {
		t.Errorf("a folder outside Git: %v", err)
	}
}

func TestRefOf(t *testing.T) {
	hash := strings.Repeat("ab", 20)
	for in, want := range map[string]Ref{
		"main":                 {Branch: "main"},
		"refs/heads/release/1": {Branch: "release/1"},
		"tags/v1.2":            {Tag: "v1.2"},
		"refs/tags/v1.2":       {Tag: "v1.2"},
		hash:                   {Commit: hash},
	} {
		if got := RefOf(in); got != want {
			t.Errorf("RefOf(%q) = %+v, want %+v", in, got, want)
		}
	}
}
