package notify

import (
	"bytes"
	"crypto/hmac"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const sha = "0123456789abcdef0123456789abcdef01234567"

// request is one request a test server received.
type request struct {
	path, rawPath string
	header        http.Header
	body          []byte
}

// server records requests and answers each with the next status of
// codes (200 once they run out).
type server struct {
	*httptest.Server
	mu    sync.Mutex
	reqs  []request
	codes []int
	body  string
}

func newServer(t *testing.T, codes ...int) *server {
	s := &server{codes: codes}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.reqs = append(s.reqs, request{path: r.URL.Path, rawPath: r.URL.EscapedPath(), header: r.Header.Clone(), body: b})
		code := http.StatusCreated
		if len(s.codes) > 0 {
			code, s.codes = s.codes[0], s.codes[1:]
		}
		answer := s.body
		s.mu.Unlock()
		w.WriteHeader(code)
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) requests() []request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]request(nil), s.reqs...)
}

// counts collects the hub's results per notifier.
type counts struct {
	mu sync.Mutex
	m  map[string]int
}

func (c *counts) count(n, r string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]int{}
	}
	c.m[n+"/"+r]++
}

func (c *counts) get(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[key]
}

// logBuffer captures the hub's log.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func hub(t *testing.T, c *counts, log io.Writer, ns ...Notifier) *Hub {
	t.Helper()
	if log == nil {
		log = io.Discard
	}
	h := NewHub(HubOptions{Notifiers: ns, Backoff: 10 * time.Millisecond, Count: c.count,
		Logger: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	t.Cleanup(func() { h.Close(5 * time.Second) })
	return h
}

func ev(kind Kind, reason, msg string) Event {
	return Event{Kind: kind, Environment: "staging", Revision: "main@sha1:" + sha, Reason: reason, Message: msg}
}

func TestGitHubCommitStatus(t *testing.T) {
	srv := newServer(t)
	gh, err := NewGitHub(srv.URL+"/api/v3", "acme/platform", "ghp-secret-token")
	if err != nil {
		t.Fatal(err)
	}
	c := &counts{}
	h := hub(t, c, nil, gh)
	h.Emit(ev(Progressing, ReasonProgressing, "reconciling"))
	h.Emit(ev(Failed, ReasonReconcileFailed, "component db: Deployment db not ready"))
	h.Emit(ev(Reconciled, ReasonReconciled, "applied; 2 components healthy"))
	h.Emit(ev(DriftCorrected, ReasonDriftCorrected, "put back")) // not a commit status
	h.Close(5 * time.Second)

	reqs := srv.requests()
	if len(reqs) != 3 {
		t.Fatalf("requests = %d, want 3 (pending, failure, success)", len(reqs))
	}
	for i, want := range []string{"pending", "failure", "success"} {
		r := reqs[i]
		if r.path != "/api/v3/repos/acme/platform/statuses/"+sha {
			t.Errorf("path = %s", r.path)
		}
		if got := r.header.Get("Authorization"); got != "Bearer ghp-secret-token" {
			t.Errorf("Authorization = %q", got)
		}
		if got := r.header.Get("Accept"); got != "application/vnd.github+json" {
			t.Errorf("Accept = %q", got)
		}
		var body map[string]string
		if err := json.Unmarshal(r.body, &body); err != nil {
			t.Fatal(err)
		}
		if body["state"] != want || body["context"] != "envctl/staging" || body["description"] == "" {
			t.Errorf("status %d = %v, want state %s, context envctl/staging", i, body, want)
		}
	}
	if got := c.get("github/sent"); got != 3 {
		t.Errorf("sent = %d, want 3", got)
	}
}

func TestGitLabCommitStatus(t *testing.T) {
	srv := newServer(t, http.StatusCreated, http.StatusBadRequest)
	srv.body = `{"message":"Cannot transition status via :run from :running"}`
	gl, err := NewGitLab(srv.URL, "group/sub/project", "glpat-secret")
	if err != nil {
		t.Fatal(err)
	}
	c := &counts{}
	h := hub(t, c, nil, gl)
	h.Emit(ev(Progressing, ReasonProgressing, "reconciling"))
	e := ev(Failed, ReasonReconcileFailed, "Deployment db not ready")
	e.Component = "db"
	h.Emit(e)
	h.Close(5 * time.Second)
	reqs := srv.requests()
	if len(reqs) != 2 {
		t.Fatalf("requests = %d, want 2", len(reqs))
	}
	for i, want := range []string{"running", "failed"} {
		r := reqs[i]
		if r.rawPath != "/api/v4/projects/group%2Fsub%2Fproject/statuses/"+sha {
			t.Errorf("path = %s", r.rawPath)
		}
		if got := r.header.Get("PRIVATE-TOKEN"); got != "glpat-secret" {
			t.Errorf("PRIVATE-TOKEN = %q", got)
		}
		var body map[string]string
		_ = json.Unmarshal(r.body, &body)
		if body["state"] != want || body["name"] != "envctl/staging" {
			t.Errorf("status %d = %v, want %s", i, body, want)
		}
		if want == "failed" && body["description"] != "component db: Deployment db not ready" {
			t.Errorf("description = %q", body["description"])
		}
	}
	// The 400 "cannot transition" is the state already set: not a failure.
	if c.get("gitlab/failed") != 0 || c.get("gitlab/sent") != 2 {
		t.Errorf("counts = %v", c.m)
	}
}

func TestWebhookSignatureAndRetry(t *testing.T) {
	srv := newServer(t, http.StatusInternalServerError, http.StatusBadGateway)
	secret := []byte("hook-secret")
	wh, err := NewWebhook(srv.URL+"/envctl", secret)
	if err != nil {
		t.Fatal(err)
	}
	c := &counts{}
	h := hub(t, c, nil, wh)
	e := ev(PruneHeld, ReasonPruneHeld, "3 objects not pruned: guard max-fraction")
	e.Component = "web"
	before := time.Now().Unix()
	h.Emit(e)
	h.Close(5 * time.Second)

	reqs := srv.requests()
	if len(reqs) != 3 {
		t.Fatalf("requests = %d, want 3 (500, 502, then 200)", len(reqs))
	}
	ids := map[string]bool{}
	for _, r := range reqs {
		sig := r.header.Get(HeaderSignature)
		// Verify as a receiver would: HMAC-SHA256 of the raw body.
		if !hmac.Equal([]byte(sig), []byte(Sign(secret, r.body))) || !strings.HasPrefix(sig, "sha256=") {
			t.Errorf("signature %q does not match the body", sig)
		}
		if hmac.Equal([]byte(sig), []byte(Sign([]byte("other"), r.body))) {
			t.Error("signature matches another secret")
		}
		var p WebhookPayload
		if err := json.Unmarshal(r.body, &p); err != nil {
			t.Fatal(err)
		}
		if p.Timestamp < before || p.Timestamp > time.Now().Unix() || strconv.FormatInt(p.Timestamp, 10) != r.header.Get(HeaderTimestamp) {
			t.Errorf("timestamp %d (header %s)", p.Timestamp, r.header.Get(HeaderTimestamp))
		}
		if p.Event.Kind != PruneHeld || p.Event.Component != "web" || p.Event.Environment != "staging" || p.Event.Reason != ReasonPruneHeld {
			t.Errorf("event = %+v", p.Event)
		}
		if p.ID == "" || p.ID != r.header.Get(HeaderDelivery) {
			t.Errorf("id %q, header %q", p.ID, r.header.Get(HeaderDelivery))
		}
		ids[p.ID] = true
	}
	if len(ids) != 1 {
		t.Errorf("retries carry %d delivery ids, want 1", len(ids))
	}
	if c.get("webhook/sent") != 1 || c.get("webhook/failed") != 0 {
		t.Errorf("counts = %v", c.m)
	}
}

// A refusal is not retried; a target down for good is given up after
// Attempts tries; neither blocks Emit.
func TestFailuresAreBoundedAndLogged(t *testing.T) {
	refused := newServer(t, http.StatusUnauthorized)
	down := newServer(t, 500, 500, 500, 500, 500, 500, 500)
	gh, _ := NewGitHub(refused.URL, "acme/platform", "tok")
	wh, _ := NewWebhook(down.URL, []byte("s"))
	c := &counts{}
	log := &logBuffer{}
	h := hub(t, c, log, gh, wh)
	start := time.Now()
	h.Emit(ev(Reconciled, ReasonReconciled, "applied"))
	if took := time.Since(start); took > 50*time.Millisecond {
		t.Errorf("Emit took %s", took)
	}
	h.Close(10 * time.Second)
	if n := len(refused.requests()); n != 1 {
		t.Errorf("401 tried %d times, want 1", n)
	}
	if n := len(down.requests()); n != Attempts {
		t.Errorf("500 tried %d times, want %d", n, Attempts)
	}
	if c.get("github/failed") != 1 || c.get("webhook/failed") != 1 {
		t.Errorf("counts = %v", c.m)
	}
	out := log.String()
	if !strings.Contains(out, "HTTP 401") || strings.Contains(out, "tok") && strings.Contains(out, "Bearer") {
		t.Errorf("log:\n%s", out)
	}
}

func TestRepeatsAreRateLimited(t *testing.T) {
	srv := newServer(t)
	wh, _ := NewWebhook(srv.URL, []byte("s"))
	c := &counts{}
	h := hub(t, c, nil, wh)
	ok := ev(Reconciled, ReasonReconciled, "applied")
	bad := ev(Failed, ReasonReconcileFailed, "db failed")
	drift := ev(DriftCorrected, ReasonDriftCorrected, "put back")
	drift.Object = "Deployment ns/web"
	for _, e := range []Event{ok, ok, bad, bad, bad, ok, drift, drift} {
		h.Emit(e)
	}
	h.Close(5 * time.Second)
	var kinds []string
	for _, r := range srv.requests() {
		var p WebhookPayload
		_ = json.Unmarshal(r.body, &p)
		kinds = append(kinds, string(p.Event.Kind))
	}
	// A change of state always goes out (the recovery included); the same
	// state again does not, within the repeat interval.
	want := "reconciled failed reconciled drift-corrected"
	if got := strings.Join(kinds, " "); got != want {
		t.Errorf("sent %q, want %q", got, want)
	}
	if c.get("webhook/rate_limited") != 4 {
		t.Errorf("rate limited = %d, want 4", c.get("webhook/rate_limited"))
	}
}

// The token goes to the configured host only: a redirect elsewhere is not
// followed.
func TestRedirectIsNotFollowed(t *testing.T) {
	other := newServer(t)
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer redirect.Close()
	gh, _ := NewGitHub(redirect.URL, "acme/platform", "tok")
	c := &counts{}
	h := hub(t, c, nil, gh)
	h.Emit(ev(Reconciled, ReasonReconciled, "applied"))
	h.Close(5 * time.Second)
	if n := len(other.requests()); n != 0 {
		t.Errorf("the redirect target got %d requests", n)
	}
	if c.get("github/failed") != 1 {
		t.Errorf("counts = %v", c.m)
	}
}

func TestSlack(t *testing.T) {
	srv := newServer(t, http.StatusServiceUnavailable)
	sl, err := NewSlack(srv.URL + "/services/T000/B000/SECRETPART")
	if err != nil {
		t.Fatal(err)
	}
	c := &counts{}
	log := &logBuffer{}
	h := hub(t, c, log, sl)
	e := ev(Failed, ReasonRenderFailed, "render failed: <bad> & worse")
	h.Emit(ev(Progressing, ReasonProgressing, "reconciling")) // not for Slack
	h.Emit(e)
	h.Close(5 * time.Second)
	reqs := srv.requests()
	if len(reqs) != 2 {
		t.Fatalf("requests = %d, want 2 (a 503, then the retry)", len(reqs))
	}
	var body map[string]string
	if err := json.Unmarshal(reqs[1].body, &body); err != nil {
		t.Fatal(err)
	}
	want := ":x: envctl staging: render failed: &lt;bad&gt; &amp; worse (main@sha1:0123456789ab)"
	if body["text"] != want || len(body) != 1 {
		t.Errorf("body = %v, want text %q", body, want)
	}
	if strings.Contains(log.String(), "SECRETPART") {
		t.Errorf("the Slack URL's secret path is in the log:\n%s", log.String())
	}
}

func TestBuildFlags(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("file-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	cases := []struct {
		name    string
		flags   Flags
		git     string
		env     map[string]string
		want    string // notifiers, or the error's text
		wantErr bool
	}{
		{name: "github", flags: Flags{GitHubStatus: true, GitHubURL: DefaultGitHubURL}, git: "https://github.com/acme/platform.git",
			env: map[string]string{EnvGitHubToken: "t"}, want: "github api.github.com acme/platform"},
		{name: "github over ssh, token file", flags: Flags{GitHubStatus: true, GitHubURL: DefaultGitHubURL, GitHubTokenFile: tokenFile},
			git: "git@github.com:acme/platform.git", want: "github api.github.com acme/platform"},
		{name: "enterprise without url", flags: Flags{GitHubStatus: true, GitHubURL: DefaultGitHubURL}, git: "https://ghe.corp/acme/p.git",
			env: map[string]string{EnvGitHubToken: "t"}, wantErr: true, want: "--github-url (https://ghe.corp/api/v3)"},
		{name: "no token", flags: Flags{GitHubStatus: true, GitHubURL: DefaultGitHubURL}, git: "https://github.com/a/b", wantErr: true, want: EnvGitHubToken},
		{name: "token twice", flags: Flags{GitHubStatus: true, GitHubURL: DefaultGitHubURL, GitHubTokenFile: tokenFile}, git: "https://github.com/a/b",
			env: map[string]string{EnvGitHubToken: "t"}, wantErr: true, want: "both give the secret"},
		{name: "no --git", flags: Flags{GitLabStatus: true, GitLabURL: DefaultGitLabURL}, wantErr: true, want: "need --git"},
		{name: "gitlab self-hosted", flags: Flags{GitLabStatus: true, GitLabURL: "https://git.corp"}, git: "ssh://git@git.corp/grp/sub/proj.git",
			env: map[string]string{EnvGitLabToken: "t"}, want: "gitlab git.corp grp/sub/proj"},
		{name: "token over http", flags: Flags{GitLabStatus: true, GitLabURL: "http://git.corp"}, git: "https://git.corp/g/p",
			env: map[string]string{EnvGitLabToken: "t"}, wantErr: true, want: "only sent over https"},
		{name: "webhook without secret", flags: Flags{Webhook: "https://hooks.example/x"}, wantErr: true, want: EnvWebhookSecret},
		{name: "webhook and slack", flags: Flags{Webhook: "https://hooks.example/x"},
			env: map[string]string{EnvWebhookSecret: "s", EnvSlackWebhook: "https://hooks.slack.com/services/T/B/SECRET"}, want: "webhook hooks.example, slack hooks.slack.com"},
		{name: "bad slack url", env: map[string]string{EnvSlackWebhook: "hooks.slack.com/services/T/B/SECRET"}, wantErr: true, want: "Slack webhook URL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns, err := tc.flags.Build(tc.git, env(tc.env))
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err = %v, want it to say %q", err, tc.want)
				}
				if strings.Contains(err.Error(), "B/SECRET") || strings.Contains(err.Error(), "file-token") {
					t.Errorf("the error shows a secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(Describe(ns), ", "); got != tc.want {
				t.Errorf("notifiers = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCommitOfRevision(t *testing.T) {
	for rev, want := range map[string]string{
		"main@sha1:" + sha:         sha,
		"sha1:" + sha:              sha,
		"v1.2.0@sha1:" + sha:       sha,
		"sha256:abc":               "",
		"main@sha1:notahash":       "",
		"sha256:" + sha + sha[:24]: sha + sha[:24],
	} {
		if got := (Event{Revision: rev}).Commit(); got != want {
			t.Errorf("Commit(%q) = %q, want %q", rev, got, want)
		}
	}
}
