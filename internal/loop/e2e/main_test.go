// Package e2e tests `envctl sync`, `envctl daemon` and the commands that
// talk to them (reconcile, suspend, resume, status) as a user runs them:
// as envctl processes (this test binary re-executed as the CLI), against
// the package's embedded test cluster, with signals and two processes
// where the behaviour is a process's.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/envctl/envctl/internal/cli"
	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/lease"
	"github.com/envctl/envctl/internal/syncstate"
	"github.com/envctl/envctl/internal/testenv"
)

// asCLIEnv makes the test binary run envctl's CLI instead of the tests.
const asCLIEnv = "ENVCTL_LOOP_E2E_AS_CLI"

// binaryEnv names an envctl binary the tests and benchmarks run instead of
// the test binary itself: `make bench` measures the daemon's footprint with
// the image's binary (built without the embedded control plane) this way.
const binaryEnv = "ENVCTL_E2E_BINARY"

// envctlBinary is the program the tests run as envctl.
func envctlBinary() string {
	if bin := os.Getenv(binaryEnv); bin != "" {
		return bin
	}
	return os.Args[0]
}

func TestMain(m *testing.M) {
	if os.Getenv(asCLIEnv) == "1" {
		os.Exit(cli.Main(os.Args[1:], cli.StdStreams()))
	}
	os.Exit(testenv.Run(m))
}

// repo is one test's repository and environment on the test cluster.
type repo struct {
	t          testing.TB
	te         *testenv.Env
	dir        string
	env        string
	ns         string
	kubeconfig string
	home       string
	// vars are more environment variables for its processes (with).
	vars []string
}

func newRepo(t testing.TB) *repo {
	t.Helper()
	te := testenv.Get(t)
	ns := te.Namespace(t)
	// Short: the cluster name envctl derives from it has at most 40
	// characters. The namespace's random suffix keeps it unique.
	env := "e2e-" + ns[strings.LastIndexByte(ns, '-')+1:]
	r := &repo{t: t, te: te, dir: t.TempDir(), env: env, ns: ns, kubeconfig: te.Kubeconfig(t), home: t.TempDir()}
	t.Cleanup(r.forget)
	r.write("config.yaml", `apiVersion: envctl.dev/v1alpha1
kind: Config
metadata: {name: loop-e2e}
spec:
  defaultEnvironment: `+r.env+`
  apply: {timeout: 60s}
`)
	r.write("environments/"+r.env+".yaml", `apiVersion: envctl.dev/v1alpha1
kind: Environment
metadata: {name: `+r.env+`}
spec:
  cluster:
    provider: existing
    existing: {kubeconfig: `+r.kubeconfig+`}
  components:
    - name: app
      kustomize: overlays/app
`)
	return r
}

// forget deletes what envctl keeps of r's environment outside the test's
// namespace: its inventory, lock and loop record in envctl-system.
func (r *repo) forget() {
	ctx := context.Background()
	cs := r.te.Clientset()
	ns := inventory.Namespace
	for what, err := range map[string]error{
		"inventory": cs.CoreV1().ConfigMaps(ns).DeleteCollection(ctx, metav1.DeleteOptions{},
			metav1.ListOptions{LabelSelector: inventory.LabelInventory + "=" + r.env}),
		"lock":        cs.CoordinationV1().Leases(ns).Delete(ctx, lease.Name(r.env), metav1.DeleteOptions{}),
		"sync record": cs.CoreV1().ConfigMaps(ns).Delete(ctx, syncstate.ConfigMapName(r.env), metav1.DeleteOptions{}),
	} {
		if err != nil && !apierrors.IsNotFound(err) {
			r.t.Errorf("delete the %s of environment %s: %v", what, r.env, err)
		}
	}
}

func (r *repo) write(rel, content string) {
	r.t.Helper()
	p := filepath.Join(r.dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

// configMaps declares ConfigMaps name=value in the test namespace.
func (r *repo) configMaps(kv ...string) {
	r.t.Helper()
	var list strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		file := kv[i] + ".yaml"
		r.write("overlays/app/"+file, fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  namespace: %s\ndata:\n  value: %q\n", kv[i], r.ns, kv[i+1]))
		fmt.Fprintf(&list, "  - %s\n", file)
	}
	r.write("overlays/app/kustomization.yaml", "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n"+list.String())
}

// value reads a ConfigMap's value.
func (r *repo) value(name string) (string, error) {
	cm, err := r.te.Clientset().CoreV1().ConfigMaps(r.ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	return cm.Data["value"], nil
}

// proc is a running envctl process.
type proc struct {
	t        testing.TB
	args     []string
	cmd      *exec.Cmd
	out, err *syncBuffer
	done     chan struct{}
	code     int
}

// start runs envctl args in the background, with -C the repository.
func (r *repo) start(args ...string) *proc {
	r.t.Helper()
	return r.startRaw(append([]string{"-C", r.dir}, args...), args)
}

// startRaw runs envctl with the arguments full in the background; args
// name it in messages.
func (r *repo) startRaw(full, args []string) *proc {
	r.t.Helper()
	cmd := exec.Command(envctlBinary(), full...)
	cmd.Env = append(os.Environ(), asCLIEnv+"=1", "HOME="+r.home, "KUBECONFIG="+r.kubeconfig, "ENVCTL_WEBHOOK_SECRET="+hookSecret)
	cmd.Env = append(cmd.Env, r.vars...)
	p := &proc{t: r.t, args: args, cmd: cmd, out: &syncBuffer{}, err: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.err
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		err := cmd.Wait()
		p.code = cmd.ProcessState.ExitCode()
		if err != nil && p.code == -1 {
			p.code = -1
		}
	}()
	r.t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
		r.t.Logf("envctl %s (exit %d)\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), p.code, p.out, p.err)
	})
	return p
}

// run runs envctl args to the end and returns its exit code and output.
func (r *repo) run(args ...string) (int, string, string) {
	r.t.Helper()
	p := r.start(args...)
	select {
	case <-p.done:
	case <-time.After(2 * time.Minute):
		r.t.Fatalf("envctl %s did not finish within 2m", strings.Join(args, " "))
	}
	return p.code, p.out.String(), p.err.String()
}

// stop sends sig and waits up to timeout for the process to exit,
// returning its exit code and how long it took.
func (p *proc) stop(sig syscall.Signal, timeout time.Duration) (int, time.Duration) {
	p.t.Helper()
	start := time.Now()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
	select {
	case <-p.done:
		return p.code, time.Since(start)
	case <-time.After(timeout):
		p.t.Fatalf("envctl %s did not exit within %s of %s", strings.Join(p.args, " "), timeout, sig)
		return 0, 0
	}
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// status reads the environment's sync record.
func (r *repo) status() *syncstate.Status {
	r.t.Helper()
	cm, err := (&syncstate.Store{Client: r.te.Clientset()}).Get(context.Background(), r.env)
	if err != nil {
		r.t.Fatal(err)
	}
	st, err := syncstate.StatusOf(cm)
	if err != nil {
		r.t.Fatal(err)
	}
	return st
}

// lock reads the environment's lock.
func (r *repo) lock() *lease.Info {
	r.t.Helper()
	info, err := lease.Get(context.Background(), r.te.Clientset(), r.env)
	if err != nil {
		r.t.Fatal(err)
	}
	return info
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// get fetches http://addr/path and returns the status and body.
func get(addr, path string) (int, string, error) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + addr + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String(), nil
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
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s: %v", timeout, what, err)
}

// holds says whether p holds the environment's lock.
func (r *repo) holds(p *proc) bool {
	l := r.lock()
	return l != nil && l.Held(time.Now()) && strings.Contains(l.Holder, fmt.Sprintf("(pid %d ", p.pid()))
}
