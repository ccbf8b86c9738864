package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/envctl/envctl/internal/source/git/gittest"
	"github.com/envctl/envctl/internal/webhook"
)

// hookSecret is the ENVCTL_WEBHOOK_SECRET that start gives every process.
const hookSecret = "hook-secret"

// gitRepo is a test repository whose work tree is also pushed to a Git
// server (git http-backend on loopback), for processes that follow it
// with --git.
type gitRepo struct {
	*repo
	git    *gittest.Repo
	server *gittest.HTTPServer
	root   string
	url    string
	cache  string
}

func newGitRepo(t testing.TB) *gitRepo {
	t.Helper()
	gittest.NeedGit(t)
	r := newRepo(t)
	root := t.TempDir()
	g := &gitRepo{repo: r, root: root, cache: t.TempDir()}
	g.git = gittest.NewRepoIn(t, root, "platform.git", r.dir)
	g.server = gittest.NewHTTPServer(t, root, gittest.HTTPOptions{})
	g.url = g.server.URL + "/platform.git"
	return g
}

// startGit runs envctl args following the server's main branch (no -C).
func (g *gitRepo) startGit(args ...string) *proc {
	g.t.Helper()
	full := append(append([]string{}, args...), "--git", g.url, "--branch", "main", "--cache-dir", g.cache)
	return g.startRaw(full, args)
}

// listings counts the ref listings the server answered since the last
// call.
func (g *gitRepo) listings() int {
	n := 0
	for _, req := range g.server.Requests() {
		if strings.Contains(req, "/info/refs") {
			n++
		}
	}
	return n
}

// post sends body to the webhook at addr with the given headers.
func post(t testing.TB, addr string, body []byte, headers map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/hooks/git", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// applied waits until the loop has applied revision and a has value.
func (g *gitRepo) applied(p *proc, revision, value string, timeout time.Duration) time.Duration {
	g.t.Helper()
	start := time.Now()
	eventually(g.t, timeout, "revision "+revision+" to be applied", func() error {
		if p.exited() {
			g.t.Fatalf("envctl exited with %d:\n%s", p.code, p.err)
		}
		if v, err := g.value("a"); err != nil || v != value {
			return fmt.Errorf("a = %q, %v; want %q", v, err, value)
		}
		if st := g.status(); st == nil || st.LastAppliedRevision != revision || st.LastError != "" {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
	return time.Since(start)
}

// quiet checks, a second after a refused webhook, that the server saw no
// ref listing and that a still has value.
func (g *gitRepo) quiet(what, value string) {
	g.t.Helper()
	time.Sleep(time.Second)
	if n := g.listings(); n != 0 {
		g.t.Errorf("%s: the server answered %d ref listings, want none", what, n)
	}
	if v, err := g.value("a"); err != nil || v != value {
		g.t.Errorf("%s: a = %q, %v; want %q unchanged", what, v, err, value)
	}
}

// TestGitPushAppliedAfterWebhook follows a branch on a Git server with
// `envctl sync --git` (polling off: --interval 1h) and pushes to it: a
// webhook with a bad signature and a replayed one are refused without a
// ref listing; a GitHub and a GitLab webhook each get the new commit
// applied; a commit that does not render and a repository that cannot be
// fetched keep the last good revision applied, prune nothing and are
// reported; a fixed commit clears the error. status reports the Git
// revisions.
func TestGitPushAppliedAfterWebhook(t *testing.T) {
	g := newGitRepo(t)
	g.configMaps("a", "one", "b", "kept")
	first := "main@sha1:" + g.git.Commit("first")
	addr := freeAddr(t)
	p := g.startGit("sync", g.env, "--listen", addr, "--interval", "1h")
	g.applied(p, first, "one", 90*time.Second)

	body := []byte(`{"ref":"refs/heads/main","after":"0000000000000000000000000000000000000000"}`)
	g.configMaps("a", "two", "b", "kept")
	second := "main@sha1:" + g.git.Commit("second")
	g.listings()

	// A bad signature: 401, and nothing else.
	code, _ := post(t, addr, body, map[string]string{webhook.HeaderGitHub: webhook.Sign(body, []byte("wrong")), "X-GitHub-Delivery": "d-0"})
	if code != http.StatusUnauthorized {
		t.Errorf("bad signature: HTTP %d, want 401", code)
	}
	g.quiet("after a bad signature", "one")

	// GitHub, signed: the push is applied.
	github := map[string]string{webhook.HeaderGitHub: webhook.Sign(body, []byte(hookSecret)), "X-GitHub-Delivery": "d-1", "X-GitHub-Event": "push"}
	if code, resp := post(t, addr, body, github); code != http.StatusAccepted {
		t.Fatalf("GitHub webhook: HTTP %d %q, want 202", code, resp)
	}
	took := g.applied(p, second, "two", 20*time.Second)
	t.Logf("GitHub webhook to %s applied: %v", second, took)

	// The same delivery again, after another push, under a new delivery id
	// (unsigned, so it does not tell a replay): refused, no listing.
	g.configMaps("a", "three", "b", "kept")
	third := "main@sha1:" + g.git.Commit("third")
	g.listings()
	github["X-GitHub-Delivery"] = "d-1-again"
	if code, resp := post(t, addr, body, github); code != http.StatusOK || !strings.Contains(resp, "already") {
		t.Errorf("replayed webhook: HTTP %d %q, want 200 and already received", code, resp)
	}
	g.quiet("after a replayed delivery", "two")

	// GitLab's token, with the payload of another push (a replay is told
	// by the payload).
	gitlabBody := []byte(`{"ref":"refs/heads/main","after":"3333333333333333333333333333333333333333"}`)
	if code, resp := post(t, addr, gitlabBody, map[string]string{webhook.HeaderGitLab: hookSecret, "X-Gitlab-Event-UUID": "u-1", "X-Gitlab-Event": "Push Hook"}); code != http.StatusAccepted {
		t.Fatalf("GitLab webhook: HTTP %d %q, want 202", code, resp)
	}
	g.applied(p, third, "three", 20*time.Second)

	generic := func(id string) {
		t.Helper()
		body := fmt.Appendf(nil, `{"ref":"refs/heads/main","delivery":%q}`, id)
		h := map[string]string{webhook.HeaderGeneric: webhook.Sign(body, []byte(hookSecret)), "X-Envctl-Delivery": id}
		if code, resp := post(t, addr, body, h); code != http.StatusAccepted {
			t.Fatalf("generic webhook %s: HTTP %d %q, want 202", id, code, resp)
		}
	}
	failedWith := func(what, attempted, want string) {
		t.Helper()
		eventually(t, 20*time.Second, what+" to be reported", func() error {
			st := g.status()
			if st == nil || !strings.Contains(st.LastError, want) || st.LastErrorKind == "" ||
				st.LastAppliedRevision != third || attempted != "" && st.LastAttemptedRevision != attempted {
				return fmt.Errorf("status %+v", st)
			}
			return nil
		})
		for name, want := range map[string]string{"a": "three", "b": "kept"} {
			if v, err := g.value(name); err != nil || v != want {
				t.Errorf("after %s: %s = %q, %v; want %q (the last good revision kept, nothing pruned)", what, name, v, err, want)
			}
		}
	}

	// A commit that does not render (and drops b).
	g.configMaps("a", "four")
	g.write("overlays/app/a.yaml", "this: is: not yaml")
	fourth := "main@sha1:" + g.git.Commit("broken")
	generic("e-1")
	failedWith("the render error", fourth, "a.yaml")

	// The repository moved away: the fetch fails.
	moved := filepath.Join(g.root, "moved.git")
	if err := os.Rename(filepath.Join(g.root, "platform.git"), moved); err != nil {
		t.Fatal(err)
	}
	generic("e-2")
	failedWith("the fetch error", "", "fetch")
	if err := os.Rename(moved, filepath.Join(g.root, "platform.git")); err != nil {
		t.Fatal(err)
	}

	// Fixed: applied, the error cleared.
	g.configMaps("a", "five", "b", "kept")
	fifth := "main@sha1:" + g.git.Commit("fixed")
	generic("e-3")
	g.applied(p, fifth, "five", 20*time.Second)

	_, metricsText, err := get(addr, "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for result, want := range map[string]int{"bad_signature": 1, "replayed": 1, "accepted": 5} {
		if got := metricValue(metricsText, `envctl_webhook_requests_total{result="`+result+`"}`); got != want {
			t.Errorf("envctl_webhook_requests_total{result=%q} = %d, want %d", result, got, want)
		}
	}

	code, stdout, _ := g.run("status", g.env, "--kubeconfig", g.kubeconfig, "-o", "json")
	var report struct {
		Sync *struct {
			Applied   string `json:"lastAppliedRevision"`
			Attempted string `json:"lastAttemptedRevision"`
			Source    string `json:"source"`
		} `json:"sync"`
	}
	if err := json.Unmarshal([]byte(stdout), &report); err != nil || report.Sync == nil {
		t.Fatalf("status -o json (exit %d): %v\n%s", code, err, stdout)
	}
	if report.Sync.Applied != fifth || report.Sync.Attempted != fifth || !strings.Contains(report.Sync.Source, g.url) {
		t.Errorf("status sync = %+v, want revisions %s from %s", *report.Sync, fifth, g.url)
	}

	if code, took := p.stop(syscall.SIGTERM, 10*time.Second); code != 0 {
		t.Errorf("exit %d after SIGTERM (%v), want 0", code, took)
	}
}

// metricValue reads the integer value of one sample from the Prometheus
// text format; -1 when absent.
func metricValue(text, sample string) int {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` (\S+)$`).FindStringSubmatch(text)
	if m == nil {
		return -1
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return -1
	}
	return int(v)
}
