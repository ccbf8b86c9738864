package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	helmrepo "helm.sh/helm/v3/pkg/repo"
	"sigs.k8s.io/yaml"

	"github.com/envctl/envctl/internal/syncstate"
)

// chartRepo is an HTTP chart repository on loopback holding the test
// chart (testdata/gated), whose index answers 503 Service Unavailable to
// its first failures requests, as a registry does while it restarts.
type chartRepo struct {
	url string
	mu  sync.Mutex
	// answers are the statuses of the index requests, in order.
	answers []int
}

func newChartRepo(t testing.TB, failures int) *chartRepo {
	t.Helper()
	ch, err := loader.Load(filepath.Join("testdata", "gated"))
	if err != nil {
		t.Fatal(err)
	}
	file, err := chartutil.Save(ch, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	archive, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Base(file)
	idx := helmrepo.NewIndexFile()
	if err := idx.MustAdd(ch.Metadata, name, "", ""); err != nil {
		t.Fatal(err)
	}
	index, err := yaml.Marshal(idx)
	if err != nil {
		t.Fatal(err)
	}
	c := &chartRepo{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/index.yaml":
			c.mu.Lock()
			status := http.StatusOK
			if len(c.answers) < failures {
				status = http.StatusServiceUnavailable
			}
			c.answers = append(c.answers, status)
			c.mu.Unlock()
			if status != http.StatusOK {
				http.Error(w, "restarting", status)
				return
			}
			_, _ = w.Write(index)
		case "/" + name:
			_, _ = w.Write(archive)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	c.url = srv.URL
	return c
}

func (c *chartRepo) indexAnswers() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int(nil), c.answers...)
}

// A daemon pinned to a tag whose chart registry answers 503 twice, then
// serves: the render failure is not bad input, so the daemon retries it
// with backoff on the same revision and converges without a new commit;
// meanwhile /readyz and the status record say it is failing, and why,
// and once it converged they say so. The Git server is polled once an
// hour: the retries are the backoff's, not new revisions.
func TestDaemonPinnedToATagConvergesWhenTheChartRegistryRecovers(t *testing.T) {
	g := newGitRepo(t)
	charts := newChartRepo(t, 2)
	g.write("environments/"+g.env+".yaml", `apiVersion: envctl.dev/v1alpha1
kind: Environment
metadata: {name: `+g.env+`}
spec:
  cluster:
    provider: existing
    existing: {kubeconfig: `+g.kubeconfig+`}
  components:
    - name: chart
      helm:
        chart: gated
        repo: `+charts.url+`
        version: 0.1.0
        release: `+chartRelease+`
        namespace: `+g.ns+`
        createNamespace: false
        values: {widgetGroup: `+g.widgetGroup()+`}
`)
	g.git.Commit("a release whose chart comes from a registry")
	commit := g.git.Tag("v1", "")
	tagged := "v1@sha1:" + commit

	addr := freeAddr(t)
	full := []string{"daemon", g.env, "--kubeconfig", g.kubeconfig, "--git", g.url, "--tag", "v1", "--cache-dir", g.cache, "--interval", "1h", "--listen", addr}
	p := g.startRaw(full, full[:2])

	var sawFailing, sawRetrying bool
	eventually(t, 2*time.Minute, "the daemon to converge once the registry serves", func() error {
		if p.exited() {
			t.Fatalf("the daemon exited with %d:\n%s", p.code, p.err)
		}
		code, body, err := get(addr, "/readyz")
		if err == nil && code == http.StatusServiceUnavailable && strings.Contains(body, "failing") {
			sawFailing = true
		}
		st := g.status()
		if st != nil && st.State == syncstate.StateRetrying && !st.NextAttemptAt.IsZero() && st.LastAttemptedRevision == tagged {
			sawRetrying = true
		}
		if _, verr := g.isUpgrade(); verr != nil {
			return fmt.Errorf("the chart's ConfigMap: %v; /readyz %d %q %v", verr, code, body, err)
		}
		if st == nil || st.State != syncstate.StateConverged || st.LastAppliedRevision != tagged || st.LastError != "" {
			return fmt.Errorf("status %+v", st)
		}
		if err != nil || code != http.StatusOK || !strings.Contains(body, "converged at "+tagged) {
			return fmt.Errorf("/readyz %d %q %v", code, body, err)
		}
		return nil
	})
	if !sawFailing {
		t.Error("/readyz never answered 503 saying the daemon was failing while the registry answered 503")
	}
	if !sawRetrying {
		t.Error("the status record never said the daemon was retrying the tagged revision")
	}
	if got, want := charts.indexAnswers(), []int{503, 503, 200}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("the registry's index answered %v, want %v: two failures, then the retry that served", got, want)
	}
	if n := g.git.Git("rev-list", "--count", "--all"); n != "1" {
		t.Errorf("the repository has %s commits, want the one: no new commit was needed", n)
	}
}
