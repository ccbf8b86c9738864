package sourceflags

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/envctl/envctl/internal/source"
	"github.com/envctl/envctl/internal/source/git"
)

// parse binds the flags, parses args as a command line would, and reads
// variables from env only.
func parse(t *testing.T, env map[string]string, args ...string) *Flags {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	s := &Flags{LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	s.Bind(fs)
	s.BindInstance(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return s
}

// repoDir makes a local repository holding config.yaml, with a subfolder.
func repoDir(t *testing.T) (root, sub string) {
	t.Helper()
	root = t.TempDir()
	sub = filepath.Join(root, "apps", "web")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := "apiVersion: envctl.dev/v1alpha1\nkind: Config\nmetadata:\n  name: t\n"
	if err := os.WriteFile(filepath.Join(root, "config.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return root, sub
}

func TestOpenLocalFindsTheRepository(t *testing.T) {
	root, sub := repoDir(t)
	var errOut bytes.Buffer
	src, err := parse(t, nil).Open(sub, &errOut, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := src.(source.Dir); !ok || d.Path != root {
		t.Errorf("Open from %s = %#v, want the local repository at %s", sub, src, root)
	}
	if errOut.Len() > 0 {
		t.Errorf("a local source said: %s", errOut.String())
	}
}

// TestGitFlagsWithoutGit: a Git flag on the command line without --git is
// refused naming it; the same setting from its variable is let be (a CI job
// may export it for every step, local or not).
func TestGitFlagsWithoutGit(t *testing.T) {
	root, _ := repoDir(t)
	_, err := parse(t, nil, "--branch", "main").Open(root, &bytes.Buffer{}, nil)
	if err == nil || !strings.Contains(err.Error(), "--branch is for a Git repository: give --git URL (or ENVCTL_GIT) too") {
		t.Errorf("--branch without --git: %v", err)
	}
	src, err := parse(t, map[string]string{"ENVCTL_CA_FILE": "/etc/ca.pem", "ENVCTL_BRANCH": "main"}).Open(root, &bytes.Buffer{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := src.(source.Dir); !ok {
		t.Errorf("variables of Git flags turned the source into %#v", src)
	}
}

// TestGitFromTheEnvironmentSaysSo: ENVCTL_GIT turns the command remote and
// the first line says so; --git on the command line wins, silently.
func TestGitFromTheEnvironmentSaysSo(t *testing.T) {
	env := map[string]string{"ENVCTL_GIT": "https://git.example.com/acme/env.git", "ENVCTL_CACHE_DIR": t.TempDir()}
	var errOut bytes.Buffer
	src, err := parse(t, env).Open("", &errOut, nil)
	if err != nil {
		t.Fatal(err)
	}
	if g, ok := src.(*git.Source); !ok || !strings.HasPrefix(g.String(), "https://git.example.com/acme/env.git") {
		t.Errorf("ENVCTL_GIT opened %#v", src)
	}
	if want := "Source: https://git.example.com/acme/env.git from ENVCTL_GIT (not a flag); unset it to use the local repository\n"; errOut.String() != want {
		t.Errorf("said %q, want %q", errOut.String(), want)
	}

	errOut.Reset()
	src, err = parse(t, env, "--git", "https://git.example.com/acme/other.git").Open("", &errOut, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(src.String(), "https://git.example.com/acme/other.git") || errOut.Len() > 0 {
		t.Errorf("--git beside ENVCTL_GIT: %s, said %q", src, errOut.String())
	}

	// -C names a local repository: with --git, one of them is a mistake.
	root, _ := repoDir(t)
	if _, err := parse(t, env).Open(root, &bytes.Buffer{}, nil); err == nil || !strings.Contains(err.Error(), "give one of them") {
		t.Errorf("-C with ENVCTL_GIT: %v", err)
	}
}

func TestBadVariableNamesIt(t *testing.T) {
	root, _ := repoDir(t)
	_, err := parse(t, map[string]string{"ENVCTL_GIT_MAX_FILES": "many"}).Open(root, &bytes.Buffer{}, nil)
	if err == nil || !strings.Contains(err.Error(), "environment variable ENVCTL_GIT_MAX_FILES") {
		t.Errorf("a malformed variable: %v", err)
	}
}

// TestBase: a preview's base is the local repository at the revision, or
// the --git repository at the ref the revision names.
func TestBase(t *testing.T) {
	root, _ := repoDir(t)
	base, headRef, err := parse(t, nil).Base(source.Dir{Path: root}, "origin/main", "", &bytes.Buffer{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := base.(*git.Revision); !ok || r.Dir != root || r.Rev != "origin/main" || headRef != "work tree" {
		t.Errorf("local base = %#v, %q", base, headRef)
	}

	s := parse(t, nil, "--git", "https://git.example.com/acme/env.git", "--branch", "feature", "--cache-dir", t.TempDir())
	head, err := s.Open("", &bytes.Buffer{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	base, headRef, err = s.Base(head, "tags/v1.2", "", &bytes.Buffer{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := base.String(); got != "https://git.example.com/acme/env.git (tag v1.2)" || headRef != "branch feature" {
		t.Errorf("--git base = %s, head %q", got, headRef)
	}
}
