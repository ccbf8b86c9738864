package loop

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/envctl/envctl/internal/engine"
	"github.com/envctl/envctl/internal/syncstate"
)

// A render that fails in a way that may pass (its chart repository answers
// 503) is retried with backoff on the same revision, and a new revision
// starts the backoff afresh instead of inheriting the old one's delay.
func TestRetryBackoffStartsAfreshOnANewRevision(t *testing.T) {
	var index atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/index.yaml" {
			index.Add(1)
		}
		http.Error(w, "restarting", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	f := newFixture(t)
	f.overlay(configMap("a", "one"))
	env := "environments/" + f.env + ".yaml"
	f.write(env, `apiVersion: envctl.dev/v1alpha1
kind: Environment
metadata: {name: `+f.env+`}
spec:
  cluster:
    provider: existing
    existing: {kubeconfig: `+f.te.Kubeconfig(t)+`}
  components:
    - name: app
      kustomize: overlays/app
    - name: chart
      helm: {chart: demo, repo: `+srv.URL+`, version: 0.3.0, release: demo, namespace: `+f.ns+`, createNamespace: false}
`)
	l := f.start(func(o *Options) {
		o.Engine = engine.New(engine.Config{Client: f.client, ChartCacheDir: t.TempDir()})
	})
	eventually(t, 30*time.Second, "three failed attempts at the first revision", func() error {
		if st := l.Status(); st.Failures < 3 {
			return fmt.Errorf("state %q, %d failures", st.State, st.Failures)
		}
		return nil
	})
	st := l.Status()
	if st.State != syncstate.StateRetrying || !strings.Contains(st.LastError, "503") {
		t.Errorf("status: state %q, last error %q; want retrying a 503", st.State, st.LastError)
	}
	if ok, why := l.Converged(); ok || !strings.Contains(why, "failing") {
		t.Errorf("Converged = %v, %q; want false, failing", ok, why)
	}
	first := st.LastAttemptedRevision
	tries := index.Load()

	f.overlay(configMap("a", "two"))
	l.FilesChanged()
	eventually(t, 15*time.Second, "the new revision's first failure", func() error {
		if st := l.Status(); st.LastAttemptedRevision == first || st.State != syncstate.StateRetrying {
			return fmt.Errorf("attempted %q, state %q", st.LastAttemptedRevision, st.State)
		}
		return nil
	})
	st = l.Status()
	if st.Failures != 1 {
		t.Errorf("the new revision's first failure counts %d failures in a row, want 1", st.Failures)
	}
	if wait := time.Until(st.NextAttemptAt); wait > retryBase+time.Second {
		t.Errorf("the new revision is tried again in %v, want the first delay (%v), not the old revision's", wait.Round(time.Millisecond), retryBase)
	}
	if index.Load() <= tries {
		t.Error("the new revision was not rendered")
	}
}
