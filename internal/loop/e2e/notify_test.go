package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/envctl/envctl/internal/notify"
	"github.com/envctl/envctl/internal/source/git/gittest"
	"github.com/envctl/envctl/internal/syncstate"
)

// recorded is one request a fake API or webhook endpoint received.
type recorded struct {
	path, auth, signature string
	// escaped is the path as sent; token is GitLab's PRIVATE-TOKEN.
	escaped, token string
	body           []byte
}

type endpoint struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []recorded
}

func newEndpoint(t *testing.T) *endpoint {
	e := &endpoint{}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		e.mu.Lock()
		e.reqs = append(e.reqs, recorded{path: r.URL.Path, auth: r.Header.Get("Authorization"), signature: r.Header.Get(notify.HeaderSignature),
			escaped: r.URL.EscapedPath(), token: r.Header.Get("PRIVATE-TOKEN"), body: b})
		e.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	}))
	t.Cleanup(e.Close)
	return e
}

func (e *endpoint) requests() []recorded {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]recorded(nil), e.reqs...)
}

// statuses checks the commit statuses a fake API received: each request
// as sent says (to the commit's endpoint, with the operator's token), each
// names the status nameField: name, and their states read want in order.
func statuses(reqs []recorded, nameField, name, want string, sent func(recorded) bool) error {
	var states []string
	for _, req := range reqs {
		if !sent(req) {
			return fmt.Errorf("status request to %s not to the commit's endpoint with the operator's token (and no other)", req.escaped)
		}
		var body map[string]string
		if err := json.Unmarshal(req.body, &body); err != nil {
			return err
		}
		if body[nameField] != name {
			return fmt.Errorf("%s %q, want %q", nameField, body[nameField], name)
		}
		states = append(states, body["state"])
	}
	if got := strings.Join(states, " "); got != want {
		return fmt.Errorf("states %q, want %s", got, want)
	}
	return nil
}

// TestSyncNotifies follows a repository (acme/platform) with `envctl sync
// --git --github-status --gitlab-status --notify-webhook`: the applied
// commit gets a pending then a success status on the fake GitHub API and a
// running then a success one on the fake GitLab API, each with the
// operator's token; the webhook gets signed events; the sync record gets a
// Reconciled Event reported by envctl; no secret shows in the output.
func TestSyncNotifies(t *testing.T) {
	gittest.NeedGit(t)
	r := newRepo(t)
	root := t.TempDir()
	g := &gitRepo{repo: r, root: root, cache: t.TempDir()}
	g.git = gittest.NewRepoIn(t, root, "acme/platform.git", r.dir)
	g.server = gittest.NewHTTPServer(t, root, gittest.HTTPOptions{})
	g.url = g.server.URL + "/acme/platform.git"
	g.configMaps("a", "one")
	sha := g.git.Commit("first")

	api, lab, hook := newEndpoint(t), newEndpoint(t), newEndpoint(t)
	const token, labToken, secret = "ghp-e2e-token-value", "glpat-e2e-token-value", "whsec-e2e-value"
	g.repo = g.with(notify.EnvGitHubToken+"="+token, notify.EnvGitLabToken+"="+labToken, notify.EnvWebhookSecret+"="+secret)
	p := g.startGit("sync", g.env, "--interval", "1h",
		"--github-status", "--github-url", api.URL+"/api/v3", "--gitlab-status", "--gitlab-url", lab.URL,
		"--notify-webhook", hook.URL+"/envctl")
	g.applied(p, "main@sha1:"+sha, "one", 90*time.Second)

	eventually(t, 15*time.Second, "a pending and a success status", func() error {
		return statuses(api.requests(), "context", "envctl/"+g.env, "pending success", func(req recorded) bool {
			return req.path == "/api/v3/repos/acme/platform/statuses/"+sha && req.auth == "Bearer "+token
		})
	})
	eventually(t, 15*time.Second, "a running and a success GitLab status", func() error {
		return statuses(lab.requests(), "name", "envctl/"+g.env, "running success", func(req recorded) bool {
			return req.escaped == "/api/v4/projects/acme%2Fplatform/statuses/"+sha && req.token == labToken && req.auth == ""
		})
	})
	eventually(t, 15*time.Second, "a signed reconciled webhook", func() error {
		for _, req := range hook.requests() {
			if req.signature != notify.Sign([]byte(secret), req.body) {
				return fmt.Errorf("bad signature %q", req.signature)
			}
			var pl notify.WebhookPayload
			if err := json.Unmarshal(req.body, &pl); err != nil {
				return err
			}
			if pl.Event.Kind == notify.Reconciled && pl.Event.Revision == "main@sha1:"+sha && pl.Timestamp > 0 {
				return nil
			}
		}
		return fmt.Errorf("%d deliveries, none a reconciled one", len(hook.requests()))
	})
	eventually(t, 15*time.Second, "a Reconciled Event on the sync record", func() error {
		ctx := context.Background()
		cs := r.te.Clientset()
		cm, err := cs.CoreV1().ConfigMaps(syncstate.Namespace).Get(ctx, syncstate.ConfigMapName(g.env), metav1.GetOptions{})
		if err != nil {
			return err
		}
		evs, err := cs.CoreV1().Events(syncstate.Namespace).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.uid=" + string(cm.UID)})
		if err != nil {
			return err
		}
		for _, e := range evs.Items {
			if e.Reason == notify.ReasonReconciled && e.ReportingController == "envctl" && strings.Contains(e.Message, sha) {
				return nil
			}
		}
		return fmt.Errorf("%d events on the record, no Reconciled by envctl", len(evs.Items))
	})

	if code, _ := p.stop(syscall.SIGTERM, 10*time.Second); code != 0 {
		t.Errorf("exit %d after SIGTERM, want 0", code)
	}
	for _, out := range []string{p.out.String(), p.err.String()} {
		if strings.Contains(out, token) || strings.Contains(out, labToken) || strings.Contains(out, secret) {
			t.Errorf("a notifier's secret is in the output:\n%s", out)
		}
	}
}
