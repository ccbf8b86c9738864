package cli

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/envctl/envctl/internal/source/git/gittest"
	"github.com/envctl/envctl/internal/ui"
)

// gitE2E is an end-to-end test whose repository is also pushed to a Git
// server (git http-backend over TLS with basic auth) and read from there
// with --git.
type gitE2E struct {
	*e2e
	repo     *gittest.Repo
	server   *gittest.HTTPServer
	url      string
	password string
}

func newGitE2E(t *testing.T, env string) *gitE2E {
	t.Helper()
	gittest.NeedGit(t)
	e := newE2E(t, env)
	g := &gitE2E{e2e: e, password: "canary" + randomHex(t)}
	root := t.TempDir()
	g.repo = gittest.NewRepoIn(t, root, "platform.git", e.repo)
	g.server = gittest.NewHTTPServer(t, root, gittest.HTTPOptions{TLS: true, User: "ci-bot", Password: g.password})
	g.url = g.server.URL + "/platform.git"
	// Secrets and the cache come from the environment, as in CI.
	t.Setenv(envGitPassword, g.password)
	t.Setenv("ENVCTL_CACHE_DIR", t.TempDir())
	t.Setenv("ENVCTL_CA_FILE", g.server.CAFile)
	t.Setenv("ENVCTL_GIT_USERNAME", "ci-bot")
	return g
}

func randomHex(t *testing.T) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// runGit runs envctl with args and the --git flags (no --repo), adding
// --kubeconfig for the commands that take it, and records the output in
// the transcript.
func (g *gitE2E) runGit(args ...string) (stdout, stderr string, code int) {
	g.t.Helper()
	full := append(append([]string{}, args...), "--git", g.url, "--branch", "main")
	switch args[0] {
	case "apply", "diff", "status", "down":
		full = append(full, "--kubeconfig", g.kubeconfig)
	}
	var out, errOut bytes.Buffer
	code = Main(full, IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	fmt.Fprintf(&g.transcript, "$ envctl %s (exit %d)\n%s%s", strings.Join(full, " "), code, out.String(), errOut.String())
	g.t.Logf("envctl %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(full, " "), code, out.String(), errOut.String())
	return out.String(), errOut.String(), code
}

func (g *gitE2E) mustRunGit(want int, args ...string) (stdout, stderr string) {
	g.t.Helper()
	stdout, stderr, code := g.runGit(args...)
	if code != want {
		g.t.Fatalf("envctl %s --git: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, want, stdout, stderr)
	}
	return stdout, stderr
}

// TestGitRenderMatchesLocal renders an environment from the Git server
// (https with a private CA and a token, and file://) and from the local
// work tree at the same commit: the bytes must be the same.
func TestGitRenderMatchesLocal(t *testing.T) {
	g := newGitE2E(t, "gitrender")
	g.overlay(baseResources(), "")
	g.repo.Commit("the environment")

	local, _ := g.mustRun(ExitOK, "render", "gitrender")
	remote, _ := g.mustRunGit(ExitOK, "render", "gitrender")
	if local != remote {
		t.Fatalf("render --git differs from the local render:\n--- local\n%s\n--- git\n%s", local, remote)
	}
	if !strings.Contains(remote, "kind: Deployment") {
		t.Fatalf("the render holds no Deployment:\n%s", remote)
	}
	var out, errOut bytes.Buffer
	if code := Main([]string{"render", "gitrender", "--git", "file://" + g.repo.Bare}, IOStreams{Out: &out, ErrOut: &errOut}); code != ExitOK {
		t.Fatalf("render --git file://: exit %d\n%s", code, errOut.String())
	}
	if out.String() != local {
		t.Error("render --git file:// differs from the local render")
	}

	// --path: a folder that is not there, and one without config.yaml.
	for _, tt := range []struct{ path, want string }{
		{"nowhere", `--path "nowhere" is not a folder of ` + g.url},
		{"overlays", `--path "overlays" holds no config.yaml at main@sha1:`},
	} {
		_, stderr, code := g.runGit("render", "gitrender", "--path", tt.path)
		if code != ExitInput || !strings.Contains(stderr, tt.want) {
			t.Errorf("render --path %s: exit %d, want %d saying %q:\n%s", tt.path, code, ExitInput, tt.want, stderr)
		}
	}
}

// TestGitUpApplyAndSecrets brings an environment up from the Git server,
// changes one object in a new commit and applies it: the summaries report
// each revision and the second apply changes exactly that object. Every
// command runs with -vv, and neither the token nor a wrong one tried later
// appears in anything envctl wrote.
func TestGitUpApplyAndSecrets(t *testing.T) {
	g := newGitE2E(t, "gitup")
	g.overlay(baseResources(), "")
	first := g.repo.Commit("the environment")

	stdout, _ := g.mustRunGit(ExitOK, "up", "gitup", "-o", "json", "-vv")
	s := decodeSummary(t, stdout)
	if s.Revision != "main@sha1:"+first || !s.Succeeded {
		t.Fatalf("up: revision %q, succeeded %v; want main@sha1:%s", s.Revision, s.Succeeded, first)
	}
	stdout, _ = g.mustRunGit(ExitOK, "up", "gitup", "-vv")
	if want := "environment gitup is up to date at main@sha1:" + first; !strings.Contains(stdout, want) || !strings.Contains(stdout, ", 0 writes)") {
		t.Errorf("the second up does not say %q with no writes:\n%s", want, stdout)
	}

	res := baseResources()
	res["configmap.yaml"] = strings.Replace(configMapYAML, `batch: "8"`, `batch: "16"`, 1)
	g.overlay(res, "")
	second := g.repo.Commit("bigger batches")
	_, stderr := g.mustRunGit(diffExitChanges, "diff", "gitup", "-vv")
	if !strings.Contains(stderr, "Environment gitup at main@sha1:"+second+": 0 to create, 1 to change") {
		t.Errorf("diff's summary does not name the new revision:\n%s", stderr)
	}
	stdout, _ = g.mustRunGit(ExitOK, "status", "gitup")
	if want := "revision main@sha1:" + first + ","; !strings.Contains(stdout, want) ||
		!strings.Contains(stdout, "The source is now at main@sha1:"+second+", which is not applied yet.") {
		t.Errorf("status before the apply does not show %s and the source's new revision:\n%s", want, stdout)
	}
	stdout, _ = g.mustRunGit(ExitOK, "apply", "gitup", "-o", "json", "-vv")
	s = decodeSummary(t, stdout)
	if s.Revision != "main@sha1:"+second {
		t.Errorf("apply: revision %q, want main@sha1:%s", s.Revision, second)
	}
	var changed []string
	for _, c := range s.Components {
		for _, ch := range c.Changed {
			changed = append(changed, ch.Object+" "+ch.Action)
		}
	}
	if want := "ConfigMap " + g.ns + "/model-config configured"; len(changed) != 1 || changed[0] != want {
		t.Errorf("apply changed %q, want exactly [%s]", changed, want)
	}

	stdout, _ = g.mustRunGit(ExitOK, "status", "gitup", "-o", "json", "-vv")
	var st ui.StatusReport
	if err := json.Unmarshal([]byte(stdout), &st); err != nil {
		t.Fatal(err)
	}
	if st.Revision != "main@sha1:"+second || st.SourceRevision != st.Revision {
		t.Errorf("status: revision %q, source %q; want both main@sha1:%s", st.Revision, st.SourceRevision, second)
	}
	stdout, _ = g.mustRunGit(ExitOK, "status", "gitup", "-vv")
	if !strings.Contains(stdout, "revision main@sha1:"+second) {
		t.Errorf("status does not show the revision:\n%s", stdout)
	}

	// A wrong token, from a file: refused, naming the file, never a value.
	wrong := "canary" + randomHex(t)
	pwFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(pwFile, []byte(wrong+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(envGitPassword, "")
	_, stderr, code := g.runGit("render", "gitup", "--git-password-file", pwFile, "-vv")
	if code != ExitInput || !strings.Contains(stderr, `tried user "ci-bot" with the password from --git-password-file `+pwFile) {
		t.Errorf("a wrong token: exit %d, want %d with a message naming the file:\n%s", code, ExitInput, stderr)
	}
	// Credentials over plain http are refused before any request.
	var out, errOut bytes.Buffer
	code = Main([]string{"render", "gitup", "--git", "http://127.0.0.1:1/platform.git", "--git-password-file", pwFile}, IOStreams{Out: &out, ErrOut: &errOut})
	if code != ExitInput || !strings.Contains(errOut.String(), "refusing to send credentials over plain http") {
		t.Errorf("credentials over http: exit %d\n%s", code, errOut.String())
	}
	fmt.Fprintf(&g.transcript, "%s%s", out.String(), errOut.String())

	t.Setenv(envGitPassword, g.password)
	g.mustRunGit(ExitOK, "down", "gitup", "--yes", "-vv")

	transcript := g.transcript.String()
	if !strings.Contains(transcript, "level=DEBUG") || !strings.Contains(transcript, g.url) {
		t.Fatalf("the transcript has no debug logs or no mention of the repository; the check would prove nothing")
	}
	for _, secret := range []string{g.password, wrong} {
		if i := strings.Index(transcript, secret); i >= 0 {
			lo, hi := max(0, i-300), min(len(transcript), i+len(secret)+100)
			t.Errorf("a token appears in envctl's output:\n...%s...", transcript[lo:hi])
		}
	}
}

// TestSourceFlagErrors checks the flag mistakes that need no server.
func TestSourceFlagErrors(t *testing.T) {
	t.Setenv("ENVCTL_CACHE_DIR", t.TempDir())
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{name: "branch without --git", args: []string{"render", "--branch", "main"}, want: "--branch is for a Git repository"},
		{name: "--repo and --git", args: []string{"render", "-C", ".", "--git", "https://h/r.git"}, want: "give one of them"},
		{name: "two refs", args: []string{"render", "--git", "https://h/r.git", "--branch", "a", "--tag", "b"}, want: "at most one of"},
		{name: "password in the URL", args: []string{"render", "--git", "https://u:hunter2@h/r.git"}, want: "carries a password"},
		{name: "bad size", args: []string{"render", "--git", "https://h/r.git", "--git-max-size", "lots"}, want: "--git-max-size"},
		{name: "bad timeout variable", args: []string{"render", "--git", "https://h/r.git"}, env: map[string]string{"ENVCTL_GIT_TIMEOUT": "soon"}, want: "environment variable ENVCTL_GIT_TIMEOUT"},
		{name: "ssh without known_hosts", args: []string{"render", "--git", "git@h:r.git", "--ssh-key", "/nonexistent"}, want: "needs --known-hosts"},
		{name: "password twice", args: []string{"render", "--git", "https://h/r.git", "--git-password-file", "/nonexistent"}, env: map[string]string{envGitPassword: "hunter2"}, want: "give the password once"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var out, errOut bytes.Buffer
			code := Main(tt.args, IOStreams{Out: &out, ErrOut: &errOut})
			if code != ExitInput || !strings.Contains(errOut.String(), tt.want) {
				t.Errorf("exit %d, stderr %q; want exit %d saying %q", code, errOut.String(), ExitInput, tt.want)
			}
			if strings.Contains(errOut.String()+out.String(), "hunter2") {
				t.Errorf("the output shows the password: %s", errOut.String())
			}
		})
	}
}
