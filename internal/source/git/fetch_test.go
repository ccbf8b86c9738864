package git

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/source/git/gittest"
)

// TestUnchangedRemoteOnlyLists checks that a Snapshot of a ref that did not
// move makes one request, the ref listing, whether the Source is the one
// that fetched (a daemon polling) or a new one on the same cache (the next
// envctl run), and returns the same directory.
func TestUnchangedRemoteOnlyLists(t *testing.T) {
	f := newFixture(t, gittest.HTTPOptions{})
	f.repo.Write(map[string]string{"config.yaml": "v: 1\n"})
	f.repo.Commit("first")
	s := f.source(nil)
	first := f.snapshot(s)
	if n := gittest.Fetches(f.http.Requests()); n != 1 {
		t.Fatalf("the first snapshot made %d fetches, want 1", n)
	}
	for _, src := range []*Source{s, f.source(nil)} {
		again := f.snapshot(src)
		reqs := f.http.Requests()
		if len(reqs) != 1 || !strings.HasPrefix(reqs[0], "GET /platform.git/info/refs") {
			t.Errorf("an unchanged check made %v; want only the ref listing", reqs)
		}
		if *again != *first {
			t.Errorf("unchanged check = %+v, want %+v", again, first)
		}
	}
}

// TestNewCommitFetchesIt checks that a new commit is fetched (once) and
// written, and that the previous snapshot is left as it was.
func TestNewCommitFetchesIt(t *testing.T) {
	f := newFixture(t, gittest.HTTPOptions{})
	f.repo.Write(map[string]string{"config.yaml": "v: 1\n", "app/a.yaml": "a\n", "app/b.yaml": "b\n"})
	f.repo.Commit("first")
	s := f.source(nil)
	old := f.snapshot(s)
	f.http.Requests()

	f.repo.Write(map[string]string{"app/a.yaml": "a changed\n"})
	f.repo.Remove("app/b.yaml")
	second := f.repo.Commit("second")
	snap := f.snapshot(s)
	if n := gittest.Fetches(f.http.Requests()); n != 1 {
		t.Errorf("the new commit took %d fetches, want 1", n)
	}
	if snap.Revision != "main@sha1:"+second {
		t.Errorf("revision %q, want main@sha1:%s", snap.Revision, second)
	}
	if got := read(t, snap, "app/a.yaml"); got != "a changed\n" {
		t.Errorf("app/a.yaml = %q", got)
	}
	if _, err := os.Stat(filepath.Join(snap.Root, "app", "b.yaml")); !os.IsNotExist(err) {
		t.Errorf("the deleted app/b.yaml is in the new snapshot (%v)", err)
	}
	if got := read(t, old, "app/a.yaml"); got != "a\n" {
		t.Errorf("the old snapshot changed: app/a.yaml = %q", got)
	}
	// The unchanged file is the previous snapshot's, linked, not written.
	was, err1 := os.Stat(filepath.Join(old.Root, "config.yaml"))
	is, err2 := os.Stat(filepath.Join(snap.Root, "config.yaml"))
	if err1 != nil || err2 != nil || !os.SameFile(was, is) {
		t.Errorf("config.yaml, unchanged, is not shared with the previous snapshot (%v, %v)", err1, err2)
	}
	if is != nil && is.Mode().Perm()&0o222 != 0 {
		t.Errorf("a snapshot file is writable: %v", is.Mode())
	}
}

// TestForcePushToOlderCommit moves the branch back to a commit older than
// the store's first, shallow, fetch: the store does not have it, and the
// server must be asked for it rather than trusted to know.
func TestForcePushToOlderCommit(t *testing.T) {
	f := newFixture(t, gittest.HTTPOptions{})
	f.repo.Write(map[string]string{"config.yaml": "v: a\n"})
	a := f.repo.Commit("a")
	f.repo.Write(map[string]string{"config.yaml": "v: b\n"})
	f.repo.Commit("b")
	f.repo.Write(map[string]string{"config.yaml": "v: c\n"})
	c := f.repo.Commit("c")
	s := f.source(func(o *Options) { o.Ref = Ref{Branch: "main"} })
	if snap := f.snapshot(s); snap.Revision != "main@sha1:"+c {
		t.Fatalf("revision %q", snap.Revision)
	}
	f.repo.ForcePush("main", a)
	snap := f.snapshot(s)
	if snap.Revision != "main@sha1:"+a || read(t, snap, "config.yaml") != "v: a\n" {
		t.Fatalf("after the force-push: %s with config.yaml %q, want main@sha1:%s with v: a", snap.Revision, read(t, snap, "config.yaml"), a)
	}
	// Back to c, which the store holds: no fetch.
	f.repo.ForcePush("main", c)
	f.http.Requests()
	if snap := f.snapshot(s); snap.Revision != "main@sha1:"+c {
		t.Fatalf("back to c: %s", snap.Revision)
	}
	if n := gittest.Fetches(f.http.Requests()); n != 0 {
		t.Errorf("returning to a commit in the store made %d fetches", n)
	}
}

// TestTagMoved checks that a tag moved to another commit is followed.
func TestTagMoved(t *testing.T) {
	f := newFixture(t, gittest.HTTPOptions{})
	f.repo.Write(map[string]string{"config.yaml": "v: 1\n"})
	first := f.repo.Commit("first")
	f.repo.Tag("stable", "first stable")
	s := f.source(func(o *Options) { o.Ref = Ref{Tag: "stable"} })
	if snap := f.snapshot(s); snap.Revision != "stable@sha1:"+first {
		t.Fatalf("revision %q, want stable@sha1:%s", snap.Revision, first)
	}
	f.repo.Write(map[string]string{"config.yaml": "v: 2\n"})
	second := f.repo.Commit("second")
	f.repo.Tag("stable", "moved")
	snap := f.snapshot(s)
	if snap.Revision != "stable@sha1:"+second || read(t, snap, "config.yaml") != "v: 2\n" {
		t.Fatalf("after moving the tag: %s, want stable@sha1:%s", snap.Revision, second)
	}
}

// TestBranchDeleted checks that a deleted branch is an error naming it,
// and that the cache survives for when it comes back.
func TestBranchDeleted(t *testing.T) {
	f := newFixture(t, gittest.HTTPOptions{})
	f.repo.Write(map[string]string{"config.yaml": "v: 1\n"})
	f.repo.Commit("first")
	f.repo.Git("checkout", "-q", "-b", "feature")
	feature := f.repo.Commit("on feature")
	s := f.source(func(o *Options) { o.Ref = Ref{Branch: "feature"} })
	f.snapshot(s)
	f.repo.DeleteBranch("feature")
	_, err := s.Snapshot(context.Background())
	if err == nil || !strings.Contains(err.Error(), `branch "feature" not found`) || errs.KindOf(err) != errs.KindInput {
		t.Fatalf("Snapshot of a deleted branch = %v (kind %v)", err, errs.KindOf(err))
	}
	f.repo.ForcePush("feature", feature)
	if snap := f.snapshot(s); snap.Revision != "feature@sha1:"+feature {
		t.Fatalf("the branch is back: %s", snap.Revision)
	}
}

// TestOldSnapshotsPruned keeps the newest KeepSnapshots snapshots.
func TestOldSnapshotsPruned(t *testing.T) {
	f := newFixture(t, gittest.HTTPOptions{})
	s := f.source(func(o *Options) { o.KeepSnapshots = 2 })
	var roots []string
	for i := range 4 {
		f.repo.Write(map[string]string{"config.yaml": strings.Repeat("v", i+1) + "\n"})
		f.repo.Commit("commit")
		roots = append(roots, f.snapshot(s).Root)
	}
	for i, root := range roots {
		_, err := os.Stat(root)
		if kept := i >= 2; kept != (err == nil) {
			t.Errorf("snapshot %d: exists = %v, want %v", i, err == nil, kept)
		}
	}
}

// TestCorruptStoreRecloned breaks the store: the next Snapshot wipes it,
// fetches afresh, says so in the log, and succeeds.
func TestCorruptStoreRecloned(t *testing.T) {
	tests := []struct {
		name string
		// files are the pack files to overwrite with garbage.
		files     string
		newCommit bool
	}{
		{name: "packs and indexes, then a new commit", files: "*", newCommit: true},
		{name: "packs only, same commit", files: "*.pack"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, gittest.HTTPOptions{})
			f.repo.Write(map[string]string{"config.yaml": "v: 1\n"})
			want := f.repo.Commit("first")
			s := f.source(nil)
			f.snapshot(s)
			packs, _ := filepath.Glob(filepath.Join(s.dir, "objects", "objects", "pack", tt.files))
			if len(packs) == 0 {
				t.Fatal("no packs in the store")
			}
			for _, p := range packs {
				_ = os.Chmod(p, 0o600)
				if err := os.WriteFile(p, []byte("not a pack, not an index, nothing at all"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			// The snapshot directory is intact; only a store read shows
			// the damage.
			_ = os.RemoveAll(filepath.Join(s.dir, "snapshots"))
			if tt.newCommit {
				f.repo.Write(map[string]string{"config.yaml": "v: 2\n"})
				want = f.repo.Commit("second")
			}
			var logs bytes.Buffer
			s = f.source(func(o *Options) { o.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
			snap := f.snapshot(s)
			if snap.Revision != "main@sha1:"+want {
				t.Fatalf("after the corruption: %s, want main@sha1:%s", snap.Revision, want)
			}
			if !strings.Contains(logs.String(), "wiping it and fetching afresh") {
				t.Errorf("no log line says the cache was wiped:\n%s", logs.String())
			}
		})
	}
}

// TestConcurrentSnapshots runs Sources on one empty cache at once, as
// several envctl processes would: each gets the same, complete snapshot.
func TestConcurrentSnapshots(t *testing.T) {
	f := newFixture(t, gittest.HTTPOptions{})
	f.repo.Write(map[string]string{"config.yaml": "v: 1\n", "a/b.yaml": "b\n"})
	c := f.repo.Commit("first")
	var wg sync.WaitGroup
	roots := make([]string, 4)
	errors := make([]error, 4)
	for i := range roots {
		s := f.source(nil)
		wg.Go(func() {
			snap, err := s.Snapshot(context.Background())
			if err == nil {
				roots[i] = snap.Root
				if snap.Revision != "main@sha1:"+c {
					t.Errorf("revision %s", snap.Revision)
				}
			}
			errors[i] = err
		})
	}
	wg.Wait()
	for i := range roots {
		if errors[i] != nil {
			t.Fatalf("Snapshot %d: %v", i, errors[i])
		}
		if roots[i] != roots[0] {
			t.Errorf("roots differ: %s and %s", roots[i], roots[0])
		}
	}
	if got, err := os.ReadFile(filepath.Join(roots[0], "a", "b.yaml")); err != nil || string(got) != "b\n" {
		t.Errorf("a/b.yaml = %q, %v", got, err)
	}
}

// TestTimeout checks that a server that does not answer is a timeout
// error naming --git-timeout.
func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	s, err := New(Options{URL: srv.URL + "/slow.git", CacheDir: t.TempDir(), Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = s.Snapshot(context.Background())
	if err == nil || errs.KindOf(err) != errs.KindTimeout || !strings.Contains(err.Error(), "--git-timeout 300ms") {
		t.Fatalf("Snapshot of a silent server = %v (kind %v), want a timeout", err, errs.KindOf(err))
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the timeout took %s", d)
	}
}
