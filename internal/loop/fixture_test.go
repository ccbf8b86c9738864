package loop

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/envctl/envctl/internal/drift"
	"github.com/envctl/envctl/internal/engine"
	"github.com/envctl/envctl/internal/kube"
	"github.com/envctl/envctl/internal/metrics"
	"github.com/envctl/envctl/internal/source"
	"github.com/envctl/envctl/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

// fixture is one environment on the test cluster, declared by a repository
// in a temporary directory whose single component "app" is overlays/app,
// and a loop keeping it converged.
type fixture struct {
	t       testing.TB
	te      *testenv.Env
	repo    string
	env     string
	ns      string
	client  *kube.Client
	counter *kube.Counter
	metrics *metrics.Metrics
	loop    *Loop
	stop    context.CancelFunc
	done    chan error
	// readyTimeout bounds the first reconcile (default 60s).
	readyTimeout time.Duration
	// tune, when set, changes the loop between New and Run.
	tune func(*Loop)
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	te := testenv.Get(t)
	ns := te.Namespace(t)
	cfg, counter := kube.CountingConfig(te.RESTConfig())
	client, err := kube.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, te: te, repo: t.TempDir(), env: "env-" + ns, ns: ns, client: client, counter: counter, metrics: metrics.New("env-" + ns)}
	f.write("config.yaml", `apiVersion: envctl.dev/v1alpha1
kind: Config
metadata: {name: loop-test}
spec:
  defaultEnvironment: `+f.env+`
  apply: {timeout: 60s}
`)
	f.write("environments/"+f.env+".yaml", `apiVersion: envctl.dev/v1alpha1
kind: Environment
metadata: {name: `+f.env+`}
spec:
  cluster:
    provider: existing
    existing: {kubeconfig: `+te.Kubeconfig(t)+`}
  components:
    - name: app
      kustomize: overlays/app
`)
	return f
}

func (f *fixture) write(rel, content string) {
	f.t.Helper()
	p := filepath.Join(f.repo, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

// overlay writes overlays/app with the given resources, NS standing for
// the test namespace.
func (f *fixture) overlay(resources ...string) {
	f.t.Helper()
	var list strings.Builder
	for i, body := range resources {
		name := fmt.Sprintf("r%d.yaml", i)
		f.write("overlays/app/"+name, strings.ReplaceAll(body, "NS", f.ns))
		fmt.Fprintf(&list, "  - %s\n", name)
	}
	f.write("overlays/app/kustomization.yaml", "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n"+list.String())
}

func (f *fixture) options() Options {
	return Options{
		Environment: f.env,
		Load:        engine.LoadOptions{Source: source.Dir{Path: f.repo}, Environment: f.env},
		Engine:      engine.New(engine.Config{Client: f.client}),
		Mode:        "sync",
		Holder:      "loop test " + f.t.Name(),
		Resync:      time.Hour,
		Drift:       drift.Correct,
		Metrics:     f.metrics,
		Logger:      testLogger(f.t),
	}
}

// start runs a loop with the fixture's options, changed by change, and
// waits until it is ready.
func (f *fixture) start(change func(*Options)) *Loop {
	f.t.Helper()
	opts := f.options()
	if change != nil {
		change(&opts)
	}
	l, err := New(opts)
	if err != nil {
		f.t.Fatal(err)
	}
	if f.tune != nil {
		f.tune(l)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.loop, f.stop, f.done = l, cancel, make(chan error, 1)
	go func() { f.done <- l.Run(ctx) }()
	f.t.Cleanup(func() { f.shutdown() })
	timeout := 60 * time.Second
	if f.readyTimeout > 0 {
		timeout = f.readyTimeout
	}
	eventually(f.t, timeout, "the loop to become ready", func() error {
		if !l.Ready() {
			return fmt.Errorf("not ready; status %+v", l.Status())
		}
		return nil
	})
	return l
}

// shutdown stops the loop and waits for Run to return.
func (f *fixture) shutdown() error {
	if f.stop == nil {
		return nil
	}
	f.stop()
	f.stop = nil
	select {
	case err := <-f.done:
		return err
	case <-time.After(15 * time.Second):
		f.t.Error("the loop did not stop within 15s")
		return nil
	}
}

// eventually polls check until it returns nil or timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = check(); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s: %v", timeout, what, err)
}
