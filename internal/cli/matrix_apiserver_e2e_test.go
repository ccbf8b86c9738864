package cli

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/envctl/envctl/internal/testhook"
)

// The API server stopped in the middle of an apply and started again from
// its state: the run either rides it out (its requests are retried while
// the server is back within the retry budget) or stops with a clear cluster
// error (exit 6); either way the four invariants hold. The cluster is an
// embedded one served by a detached process of its own, which the test can
// stop and start without touching the package's shared cluster.
func TestMatrixAPIServerRestartedMidApply(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded cluster")
	}
	canary := newCanary(t)
	e := newE2E(t, "apistop")
	const cluster = "apistop"
	e.write("environments/apistop.yaml", `apiVersion: envctl.dev/v1alpha1
kind: Environment
metadata:
  name: apistop
spec:
  cluster:
    provider: embedded
    name: `+cluster+`
    embedded:
      nodes: [{name: node, count: 1}]
  components:
    - name: app
      kustomize: overlays/app
      timeout: 2m
`)
	e.overlay(matrixRender(canary, 0), "")
	stateDir := func() string {
		return filepath.Join(e.home, ".local", "state", "envctl", "clusters", "embedded", cluster)
	}
	t.Cleanup(func() {
		p := e.start("", nil, "cluster", "delete", cluster)
		if p.wait(2*time.Minute) != ExitOK {
			// Whatever is left must not outlive the test.
			if pid := servePID(stateDir()); pid > 0 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})

	if p := e.start("", nil, "up"); p.wait(5*time.Minute) != ExitOK {
		t.Fatal("the first up failed")
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: filepath.Join(e.home, ".kube", "config")},
		&clientcmd.ConfigOverrides{CurrentContext: "envctl-" + cluster},
	).ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	iv := newInvariantsOn(t, e, canary, cfg)
	iv.watch(e.ns + "-by")

	e.overlay(matrixRender(canary, 1), "")
	p := e.start(testhook.Apply, []string{testhook.LeaseDurationEnv + "=2s"}, "up")
	p.waitPaused(testhook.Apply)
	pid := servePID(stateDir())
	if pid <= 0 {
		t.Fatal("no serve process")
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); processAlive(pid); {
		if time.Now().After(deadline) {
			t.Fatal("the serve process outlived SIGKILL")
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.resume(testhook.Apply)
	// The apply now meets a server that is gone; it is started again from
	// its state while the apply retries.
	restart := e.start("", nil, "cluster", "create", cluster, "--provider", "embedded")
	if code := restart.wait(5 * time.Minute); code != ExitOK {
		t.Fatalf("restarting the cluster: exit %d", code)
	}
	code := p.wait(5 * time.Minute)
	switch code {
	case ExitOK:
		t.Log("the apply rode out the restart")
	case ExitCluster:
		// Either the retries ran out, or the outage outlasted the lock
		// (the restart takes seconds, the test's lock 2 s): the run then
		// stops writing, as it must, since another writer may take over.
		if stderr := p.errOut.String(); !strings.Contains(stderr, "connect") && !strings.Contains(stderr, "lost the lock of environment") {
			t.Errorf("the apply cut off from its cluster says neither that it could not connect nor that it lost the lock:\n%s", stderr)
		}
	default:
		t.Errorf("the apply cut off from its cluster: exit %d, want 0 or %d", code, ExitCluster)
	}
	iv.check("the API server restarted mid-apply")
	iv.converge("after the API server restarted", "up")
}

// servePID reads the pid of the serve process of the cluster in dir.
func servePID(dir string) int {
	data, err := os.ReadFile(filepath.Join(dir, "serve.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.Fields(string(data) + " ")[0])
	return pid
}

// processAlive reports whether pid exists and has not exited.
func processAlive(pid int) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(stat), ')')
	f := strings.Fields(string(stat[i+1:]))
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}
