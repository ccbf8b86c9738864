package git

import (
	"context"
	"strings"
	"testing"

	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/source/git/gittest"
)

// TestRefs resolves each kind of ref against a repository served by git
// http-backend and checks the revision and the files of the snapshot.
func TestRefs(t *testing.T) {
	f := newFixture(t, gittest.HTTPOptions{})
	f.repo.Write(map[string]string{"config.yaml": "v: 1\n", "envs/ci/config.yaml": "ci: 1\n"})
	first := f.repo.Commit("first")
	f.repo.Tag("v1.0.0", "release 1.0.0")
	f.repo.Tag("light", "")
	f.repo.Write(map[string]string{"config.yaml": "v: 2\n"})
	second := f.repo.Commit("second")
	f.repo.Tag("v1.2.0", "release 1.2.0")
	f.repo.Tag("v2.0.0-rc.1", "a pre-release")
	f.repo.Git("checkout", "-q", "-b", "dev")
	f.repo.Write(map[string]string{"config.yaml": "v: dev\n"})
	dev := f.repo.Commit("on dev")
	f.repo.Write(map[string]string{"config.yaml": "v: dev 2\n"})
	devHead := f.repo.Commit("dev again")

	tests := []struct {
		name     string
		ref      Ref
		path     string
		wantRev  string
		wantFile string
	}{
		{name: "remote HEAD", wantRev: "main@sha1:" + second, wantFile: "v: 2\n"},
		{name: "branch", ref: Ref{Branch: "dev"}, wantRev: "dev@sha1:" + devHead, wantFile: "v: dev 2\n"},
		{name: "annotated tag", ref: Ref{Tag: "v1.0.0"}, wantRev: "v1.0.0@sha1:" + first, wantFile: "v: 1\n"},
		{name: "lightweight tag", ref: Ref{Tag: "light"}, wantRev: "light@sha1:" + first, wantFile: "v: 1\n"},
		{name: "semver, highest in range", ref: Ref{Semver: ">=1.0.0 <2.0.0"}, wantRev: "v1.2.0@sha1:" + second, wantFile: "v: 2\n"},
		{name: "semver, tilde", ref: Ref{Semver: "~1.0"}, wantRev: "v1.0.0@sha1:" + first, wantFile: "v: 1\n"},
		{name: "commit on a branch's history", ref: Ref{Commit: dev}, wantRev: "sha1:" + dev, wantFile: "v: dev\n"},
		{name: "commit, upper case", ref: Ref{Commit: strings.ToUpper(first)}, wantRev: "sha1:" + first, wantFile: "v: 1\n"},
		{name: "path", ref: Ref{Branch: "main"}, path: "envs/ci", wantRev: "main@sha1:" + second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := f.source(func(o *Options) { o.Ref, o.Path = tt.ref, tt.path })
			snap := f.snapshot(s)
			if snap.Revision != tt.wantRev {
				t.Errorf("revision %q, want %q", snap.Revision, tt.wantRev)
			}
			if tt.path != "" {
				if got := read(t, snap, "config.yaml"); got != "ci: 1\n" {
					t.Errorf("--path %s: config.yaml holds %q", tt.path, got)
				}
				return
			}
			if got := read(t, snap, "config.yaml"); got != tt.wantFile {
				t.Errorf("config.yaml holds %q, want %q", got, tt.wantFile)
			}
		})
	}
}

// TestRefErrors checks that what the remote lacks is bad input naming what
// is missing and what there is.
func TestRefErrors(t *testing.T) {
	f := newFixture(t, gittest.HTTPOptions{})
	f.repo.Write(map[string]string{"config.yaml": "v: 1\n"})
	f.repo.Commit("first")
	f.repo.Tag("v1.0.0", "release")
	tests := []struct {
		name string
		ref  Ref
		path string
		want []string
	}{
		{name: "missing branch", ref: Ref{Branch: "nope"}, want: []string{`branch "nope" not found`, "it has main"}},
		{name: "missing tag", ref: Ref{Tag: "v9"}, want: []string{`tag "v9" not found`, "v1.0.0"}},
		{name: "no tag in range", ref: Ref{Semver: ">=2.0.0"}, want: []string{`a tag matching semver ">=2.0.0" not found`, "v1.0.0"}},
		{name: "unknown commit", ref: Ref{Commit: strings.Repeat("ab", 20)}, want: []string{"commit abababababababababababababababababababab not found in"}},
		{name: "missing path", path: "no/such/dir", want: []string{`--path "no/such/dir" is not a folder of`, "at main@sha1:"}},
		{name: "path names a file", path: "config.yaml", want: []string{`--path "config.yaml" is not a folder`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := f.source(func(o *Options) { o.Ref, o.Path = tt.ref, tt.path })
			_, err := s.Snapshot(context.Background())
			if err == nil {
				t.Fatal("Snapshot succeeded")
			}
			t.Log(err)
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if errs.KindOf(err) != errs.KindInput {
				t.Errorf("error kind %v, want input", errs.KindOf(err))
			}
		})
	}
}

// TestNewRejectsBadOptions checks the options New refuses before any
// request.
func TestNewRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{name: "two refs", opts: Options{URL: "https://h/r.git", Ref: Ref{Branch: "a", Tag: "b"}}, want: "at most one of"},
		{name: "bad branch", opts: Options{URL: "https://h/r.git", Ref: Ref{Branch: "a..b"}}, want: `--branch "a..b"`},
		{name: "short commit", opts: Options{URL: "https://h/r.git", Ref: Ref{Commit: "abc123"}}, want: "full 40-character"},
		{name: "bad range", opts: Options{URL: "https://h/r.git", Ref: Ref{Semver: "one"}}, want: "not a version range"},
		{name: "path climbs out", opts: Options{URL: "https://h/r.git", Path: "../x"}, want: "may not climb"},
		{name: "path into .git", opts: Options{URL: "https://h/r.git", Path: ".git/hooks"}, want: ".git"},
		{name: "file URL from a daemon", opts: Options{URL: "file:///tmp/r.git"}, want: "only read by the envctl command line"},
		{name: "git protocol", opts: Options{URL: "git://h/r.git"}, want: "neither authenticated nor encrypted"},
		{name: "credentials over http", opts: Options{URL: "http://h/r.git", Auth: Auth{Username: "u", Password: "hunter2"}}, want: "refusing to send credentials over plain http"},
		{name: "user name without password", opts: Options{URL: "https://h/r.git", Auth: Auth{Username: "u"}}, want: "has no password"},
		{name: "ssh without known_hosts", opts: Options{URL: "git@h:r.git"}, want: "needs --known-hosts"},
		{name: "key for https", opts: Options{URL: "https://h/r.git", Auth: Auth{SSHKeyFile: "/k"}}, want: "for ssh:// URLs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.CacheDir = t.TempDir()
			_, err := New(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, want an error saying %q", err, tt.want)
			}
			if errs.KindOf(err) != errs.KindInput {
				t.Errorf("kind %v, want input", errs.KindOf(err))
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}

// TestEmptyRepository checks the message for a repository without commits.
func TestEmptyRepository(t *testing.T) {
	f := newFixture(t, gittest.HTTPOptions{})
	_, err := f.source(nil).Snapshot(context.Background())
	if err == nil || !strings.Contains(err.Error(), "is empty") || errs.KindOf(err) != errs.KindInput {
		t.Fatalf("Snapshot of an empty repository = %v (kind %v), want an input error saying it is empty", err, errs.KindOf(err))
	}
}

// TestMissingRepository checks a 404.
func TestMissingRepository(t *testing.T) {
	f := newFixture(t, gittest.HTTPOptions{})
	s := f.source(func(o *Options) { o.URL = f.http.URL + "/nope.git" })
	_, err := s.Snapshot(context.Background())
	if err == nil || !strings.Contains(err.Error(), "repository "+f.http.URL+"/nope.git not found") {
		t.Fatalf("Snapshot = %v, want repository not found", err)
	}
	if errs.KindOf(err) != errs.KindInput {
		t.Errorf("kind %v, want input", errs.KindOf(err))
	}
}
