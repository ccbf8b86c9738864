package git

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/envctl/envctl/internal/source/git/gittest"
)

// benchFiles is the size of the generated repository the benchmarks use.
const benchFiles = 10_000

// benchRepo serves a repository of benchFiles small YAML files (100
// folders of 100) over git http-backend.
func benchRepo(b *testing.B) *fixture {
	b.Helper()
	gittest.NeedGit(b)
	f := &fixture{root: b.TempDir(), cache: b.TempDir()}
	f.repo = gittest.NewRepo(b, f.root, "big.git")
	for d := range 100 {
		dir := filepath.Join(f.repo.Work, "components", fmt.Sprintf("c%03d", d))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		for i := range benchFiles / 100 {
			body := fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c%03d-%03d\n  namespace: bench\ndata:\n  index: %q\n  payload: %q\n", d, i, strconv.Itoa(i), fmt.Sprintf("%0128d", d*1000+i))
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("cm%03d.yaml", i)), []byte(body), 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	f.repo.Write(map[string]string{"config.yaml": "v: 0\n"})
	f.repo.Commit("10,000 files")
	f.http = gittest.NewHTTPServer(b, f.root, gittest.HTTPOptions{})
	f.url = f.http.URL + "/big.git"
	return f
}

func benchSource(b *testing.B, f *fixture) *Source {
	b.Helper()
	s, err := New(Options{URL: f.url, CacheDir: f.cache})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkUnchangedCheck is a Snapshot of a ref that did not move: the
// ref listing, and for a new Source (the next envctl run) the store's
// lock and the reuse of the written snapshot. Target: ≤ 50 ms.
func BenchmarkUnchangedCheck(b *testing.B) {
	f := benchRepo(b)
	s := benchSource(b, f)
	if _, err := s.Snapshot(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Run("same-source", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Snapshot(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("new-source", func(b *testing.B) {
		for b.Loop() {
			if _, err := benchSource(b, f).Snapshot(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
	})
	if n := gittest.Fetches(f.http.Requests()); n != 1 {
		b.Fatalf("the unchanged checks fetched (%d pack requests in all, want the first one only)", n)
	}
}

// BenchmarkFetchOneCommit fetches one new commit (one file changed) into
// the store: the listing and the fetch, not the snapshot. "incremental"
// is what a Source does (no depth limit: the server sends the new
// objects); "shallow" asks for depth 1 instead, which makes the server
// resend the whole tree. Target: ≤ 300 ms.
func BenchmarkFetchOneCommit(b *testing.B) {
	for _, mode := range []string{"incremental", "shallow"} {
		b.Run(mode, func(b *testing.B) {
			f := benchRepo(b)
			s := benchSource(b, f)
			if _, err := s.Snapshot(context.Background()); err != nil {
				b.Fatal(err)
			}
			st, err := openStore(s.dir, "bench")
			if err != nil {
				b.Fatal(err)
			}
			defer st.close()
			n := 0
			for b.Loop() {
				b.StopTimer()
				n++
				f.repo.Write(map[string]string{"components/c000/cm000.yaml": fmt.Sprintf("changed: %d\n", n)})
				want := plumbing.NewHash(f.repo.Commit("one change"))
				b.StartTimer()
				l, err := s.client.list(context.Background(), s.url)
				if err != nil {
					b.Fatal(err)
				}
				tip, _, err := st.tip()
				if err != nil {
					b.Fatal(err)
				}
				depth := 0
				if mode == "shallow" {
					depth = 1
				}
				if err := l.fetch(context.Background(), st, []plumbing.Hash{want}, []plumbing.Hash{tip}, depth); err != nil {
					b.Fatal(err)
				}
				l.close()
				b.StopTimer()
				if !st.has(want) {
					b.Fatal("the commit is not in the store after the fetch")
				}
				if err := st.setTip(want); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}

// BenchmarkFirstFetch is the first, shallow fetch of the 10,000-file
// repository into an empty store, without writing the snapshot.
func BenchmarkFirstFetch(b *testing.B) {
	f := benchRepo(b)
	s := benchSource(b, f)
	for b.Loop() {
		b.StopTimer()
		dir := b.TempDir()
		st, err := openStore(dir, "bench")
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		l, err := s.client.list(context.Background(), s.url)
		if err != nil {
			b.Fatal(err)
		}
		t, err := resolve(s.opts.Ref, l.adv, s.url.String())
		if err != nil {
			b.Fatal(err)
		}
		if err := s.fetchInto(context.Background(), l, st, t); err != nil {
			b.Fatal(err)
		}
		l.close()
		b.StopTimer()
		st.close()
		b.StartTimer()
	}
}

// BenchmarkSnapshotWrite writes the tree of the 10,000-file commit from
// the store into a new snapshot directory, opening the store each time as
// a new envctl process does (no object is cached). Target: ≤ 2 s.
func BenchmarkSnapshotWrite(b *testing.B) {
	f := benchRepo(b)
	s := benchSource(b, f)
	if _, err := s.Snapshot(context.Background()); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		b.StopTimer()
		dst := filepath.Join(b.TempDir(), "snap")
		b.StartTimer()
		st, err := openStore(s.dir, "bench")
		if err != nil {
			b.Fatal(err)
		}
		tip, _, err := st.tip()
		if err != nil {
			b.Fatal(err)
		}
		c, err := object.GetCommit(st.st, tip)
		if err != nil {
			b.Fatal(err)
		}
		tree, err := c.Tree()
		if err != nil {
			b.Fatal(err)
		}
		got, err := writeSnapshot(context.Background(), st.st, tree, "", dst, DefaultLimits(), nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		st.close()
		if got.Files != benchFiles+1 {
			b.Fatalf("wrote %d files, want %d", got.Files, benchFiles+1)
		}
	}
}

// BenchmarkSnapshotNewCommit is what a daemon pays when the branch moves
// by one small commit: the listing, the fetch and the new snapshot.
func BenchmarkSnapshotNewCommit(b *testing.B) {
	f := benchRepo(b)
	s := benchSource(b, f)
	if _, err := s.Snapshot(context.Background()); err != nil {
		b.Fatal(err)
	}
	n := 0
	for b.Loop() {
		b.StopTimer()
		n++
		f.repo.Write(map[string]string{"components/c000/cm000.yaml": fmt.Sprintf("changed: %d\n", n)})
		want := f.repo.Commit("one change")
		b.StartTimer()
		snap, err := s.Snapshot(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if snap.Revision != "main@sha1:"+want {
			b.Fatalf("revision %s", snap.Revision)
		}
	}
}
