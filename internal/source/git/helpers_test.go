package git

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/envctl/envctl/internal/source"
	"github.com/envctl/envctl/internal/source/git/gittest"
)

// fixture is a served repository and what a Source needs to reach it.
type fixture struct {
	t    *testing.T
	root string
	repo *gittest.Repo
	http *gittest.HTTPServer
	// url is the repository's URL on http.
	url   string
	cache string
}

// newFixture serves an empty repository over plain HTTP.
func newFixture(t *testing.T, opts gittest.HTTPOptions) *fixture {
	t.Helper()
	gittest.NeedGit(t)
	f := &fixture{t: t, root: t.TempDir(), cache: t.TempDir()}
	f.repo = gittest.NewRepo(t, f.root, "platform.git")
	f.http = gittest.NewHTTPServer(t, f.root, opts)
	f.url = f.http.URL + "/platform.git"
	return f
}

// source builds a Source of the fixture's repository; change edits the
// options first.
func (f *fixture) source(change func(*Options)) *Source {
	f.t.Helper()
	opts := Options{URL: f.url, CacheDir: f.cache}
	if change != nil {
		change(&opts)
	}
	s, err := New(opts)
	if err != nil {
		f.t.Fatalf("New: %v", err)
	}
	return s
}

// snapshot takes a snapshot and fails the test on error.
func (f *fixture) snapshot(s *Source) *source.Snapshot {
	f.t.Helper()
	snap, err := s.Snapshot(context.Background())
	if err != nil {
		f.t.Fatalf("Snapshot of %s: %v", s, err)
	}
	return snap
}

// read returns a file of a snapshot.
func read(t *testing.T, snap *source.Snapshot, rel string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(snap.Root, filepath.FromSlash(rel)))
	if err != nil {
		t.Fatalf("read %s of %s: %v", rel, snap.Revision, err)
	}
	return string(data)
}
