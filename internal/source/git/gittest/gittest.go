// Package gittest runs real Git servers for tests: smart HTTP(S) through
// `git http-backend` (net/http/cgi, optional TLS and basic auth) and SSH
// through an in-process server that runs git-upload-pack, over bare
// repositories that tests fill with the git binary. Tests that use it skip
// when git is not installed.
package gittest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// NeedGit skips t when the git binary is missing.
func NeedGit(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("the git binary is not installed; these tests serve repositories with git http-backend and git-upload-pack")
	}
}

// gitEnv isolates git from the user's and the system's configuration.
func gitEnv() []string {
	return append(os.Environ(),
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=envctl test", "GIT_AUTHOR_EMAIL=test@envctl.dev",
		"GIT_COMMITTER_NAME=envctl test", "GIT_COMMITTER_EMAIL=test@envctl.dev",
		"GIT_TERMINAL_PROMPT=0")
}

// Git runs git in dir and returns its trimmed output; a failure fails t.
func Git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out, err := GitErr(dir, args...)
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// GitErr is Git returning the error.
func GitErr(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = gitEnv()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return strings.TrimSpace(out.String()), err
}

// Repo is a bare repository under a served root, and a clone of it that
// tests commit in and push from.
type Repo struct {
	t testing.TB
	// Name is the repository's path under the root, such as "platform.git".
	Name string
	// Bare is the served repository.
	Bare string
	// Work is the clone that commits are made in.
	Work string
}

// NewRepo creates the empty bare repository root/name (name ends in .git)
// and a work tree for it on branch main.
func NewRepo(t testing.TB, root, name string) *Repo {
	t.Helper()
	return NewRepoIn(t, root, name, filepath.Join(t.TempDir(), strings.TrimSuffix(name, ".git")))
}

// NewRepoIn is NewRepo with the work tree in work, which may already hold
// files (they are committed with the first Commit).
func NewRepoIn(t testing.TB, root, name, work string) *Repo {
	t.Helper()
	NeedGit(t)
	r := &Repo{t: t, Name: name, Bare: filepath.Join(root, name), Work: work}
	Git(t, root, "init", "-q", "--bare", "-b", "main", r.Bare)
	// Let clients fetch any reachable commit, as the large hosts do.
	Git(t, r.Bare, "config", "uploadpack.allowReachableSHA1InWant", "true")
	Git(t, root, "init", "-q", "-b", "main", r.Work)
	Git(t, r.Work, "remote", "add", "origin", r.Bare)
	return r
}

// Git runs git in the work tree.
func (r *Repo) Git(args ...string) string {
	r.t.Helper()
	return Git(r.t, r.Work, args...)
}

// Write writes files (path -> content) into the work tree.
func (r *Repo) Write(files map[string]string) {
	r.t.Helper()
	for rel, content := range files {
		p := filepath.Join(r.Work, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
}

// Remove deletes a file or folder of the work tree.
func (r *Repo) Remove(rel string) {
	r.t.Helper()
	if err := os.RemoveAll(filepath.Join(r.Work, filepath.FromSlash(rel))); err != nil {
		r.t.Fatal(err)
	}
}

// Commit commits everything in the work tree (extra are git commit
// arguments, such as -S), pushes the branch and returns the commit.
func (r *Repo) Commit(msg string, extra ...string) string {
	r.t.Helper()
	r.Git("add", "-A")
	r.Git(append([]string{"commit", "-q", "--allow-empty", "-m", msg}, extra...)...)
	branch := r.Git("rev-parse", "--abbrev-ref", "HEAD")
	r.Git("push", "-q", "--force", "origin", "HEAD:refs/heads/"+branch)
	return r.Git("rev-parse", "HEAD")
}

// Tag creates a tag at HEAD (annotated when msg is not empty; extra are
// git tag arguments such as -s), pushes it, and returns the commit it
// names.
func (r *Repo) Tag(name, msg string, extra ...string) string {
	r.t.Helper()
	args := []string{"tag", "-f"}
	if msg != "" {
		args = append(args, "-a", "-m", msg)
	}
	args = append(args, extra...)
	r.Git(append(args, name)...)
	r.Git("push", "-q", "--force", "origin", "refs/tags/"+name)
	return r.Git("rev-parse", "HEAD")
}

// ForcePush points the remote branch at commit.
func (r *Repo) ForcePush(branch, commit string) {
	r.t.Helper()
	r.Git("push", "-q", "--force", "origin", commit+":refs/heads/"+branch)
}

// DeleteBranch deletes a branch of the remote.
func (r *Repo) DeleteBranch(branch string) {
	r.t.Helper()
	r.Git("push", "-q", "origin", "--delete", branch)
}
