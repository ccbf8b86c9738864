// Package testenv gives integration tests a real Kubernetes API server:
// envctl's embedded control plane with simulated nodes, started once per
// test package and shared by its tests, each of which works in a namespace
// of its own.
//
//	func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }
//
//	func TestApply(t *testing.T) {
//		env := testenv.Get(t)
//		ns := env.Namespace(t)
//		... env.Clientset(), env.Dynamic(), env.RESTConfig() ...
//	}
//
// The cluster starts when the first test asks for it, so a package whose
// tests are all skipped or filtered out (go test -run, -bench alone) does
// not pay for it. Under -short it never starts and Get skips the test.
package testenv

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/envctl/envctl/internal/cluster/embedded"
	"github.com/envctl/envctl/internal/config"
)

// LogEnv names the environment variable that sets the level of the control
// plane's logs on stderr (debug, info, warn, error); warn by default, which
// shows only failures of the control plane itself.
const LogEnv = "ENVCTL_TESTENV_LOG"

// StartTimeout bounds the start of the cluster, which is measured in
// seconds; a minute leaves room for a loaded CI machine.
const StartTimeout = 2 * time.Minute

// DefaultNodes are the simulated nodes of a test cluster: two nodes with
// room for what a test deploys, and a GPU-like extended resource so that
// scheduling against one can be tested.
func DefaultNodes() []config.NodePool {
	return []config.NodePool{{
		Name:  "node",
		Count: 2,
		Capacity: map[string]string{
			"cpu":            "16",
			"memory":         "64Gi",
			"pods":           "110",
			"nvidia.com/gpu": "1",
		},
	}}
}

// Option changes how Run starts the cluster.
type Option func(*embedded.Options)

// WithNodes replaces DefaultNodes.
func WithNodes(pools ...config.NodePool) Option {
	return func(o *embedded.Options) { o.Nodes = pools }
}

// Env is the shared test cluster.
type Env struct {
	cp      *embedded.ControlPlane
	cfg     *rest.Config
	client  kubernetes.Interface
	dynamic dynamic.Interface
}

// The package's cluster, started by the first Get.
var (
	ran      bool
	runOpts  []Option
	stateDir string

	startOnce sync.Once
	current   *Env
	startErr  error
)

const skipMessage = "integration test: needs the embedded Kubernetes control plane, which is not started under -short"

// Run prepares the package's cluster, runs the tests and stops the cluster
// if a test started it, returning the exit code for os.Exit. The state
// directory is a temporary directory, removed afterwards.
func Run(m *testing.M, opts ...Option) int {
	if !flag.Parsed() {
		flag.Parse()
	}
	ran = true
	runOpts = opts
	if testing.Short() {
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "envctl-testenv-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "testenv: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	stateDir = dir

	code := m.Run()
	// Keep later Gets (there should be none) from starting a new cluster.
	startOnce.Do(func() { startErr = fmt.Errorf("testenv: the tests have finished") })
	if current != nil {
		if err := current.cp.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "testenv: the embedded cluster failed while the tests ran: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}
	return code
}

func start(dir string, opts []Option) (*Env, error) {
	o := embedded.Options{
		Dir:    filepath.Join(dir, "cluster"),
		Nodes:  DefaultNodes(),
		Logger: logger(),
	}
	for _, opt := range opts {
		opt(&o)
	}
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	// The cluster must outlive the start-up deadline, so it is not given ctx.
	cp, err := embedded.Start(context.Background(), o)
	if err != nil {
		return nil, err
	}
	if err := cp.WaitUsable(ctx); err != nil {
		_ = cp.Stop()
		return nil, err
	}
	cfg := cp.RESTConfig()
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		_ = cp.Stop()
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		_ = cp.Stop()
		return nil, err
	}
	return &Env{cp: cp, cfg: cfg, client: client, dynamic: dyn}, nil
}

func logger() *slog.Logger {
	level := slog.LevelWarn
	if v := os.Getenv(LogEnv); v != "" {
		if err := level.UnmarshalText([]byte(v)); err != nil {
			fmt.Fprintf(os.Stderr, "testenv: %s=%q: %v; using warn\n", LogEnv, v, err)
			level = slog.LevelWarn
		}
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// Get returns the package's cluster. It skips the test under -short and
// fails it when the package's TestMain does not call Run.
func Get(t testing.TB) *Env {
	t.Helper()
	if testing.Short() {
		t.Skip(skipMessage)
	}
	if skipReason != "" {
		t.Skip(skipReason)
	}
	if !ran {
		t.Fatal("testenv.Get: the test package's TestMain must call testenv.Run: func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }")
	}
	startOnce.Do(func() {
		began := time.Now()
		current, startErr = start(stateDir, runOpts)
		if startErr == nil {
			t.Logf("testenv: embedded cluster usable after %v", time.Since(began).Round(time.Millisecond))
		}
	})
	if startErr != nil {
		t.Fatalf("testenv: start the embedded cluster: %v", startErr)
	}
	return current
}

// RESTConfig returns a cluster-admin client configuration; each call
// returns a copy the caller may change.
func (e *Env) RESTConfig() *rest.Config { return rest.CopyConfig(e.cfg) }

// Clientset is a cluster-admin typed client.
func (e *Env) Clientset() kubernetes.Interface { return e.client }

// Dynamic is a cluster-admin dynamic client.
func (e *Env) Dynamic() dynamic.Interface { return e.dynamic }

// ControlPlane is the embedded control plane itself, for tests of it.
func (e *Env) ControlPlane() *embedded.ControlPlane { return e.cp }

// Namespace creates a namespace for t, named after the test, and deletes
// it when t ends. It returns once the namespace's default ServiceAccount
// exists, so that pods can be created in it right away.
func (e *Env) Namespace(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	ns, err := e.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: namePrefix(t.Name()),
			Labels:       map[string]string{"envctl.dev/test": "true"},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("testenv: create namespace: %v", err)
	}
	t.Cleanup(func() {
		// Deletion finishes in the background; the next test does not
		// wait for it.
		err := e.client.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
		if err != nil {
			t.Errorf("testenv: delete namespace %s: %v", ns.Name, err)
		}
	})
	err = wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := e.client.CoreV1().ServiceAccounts(ns.Name).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("testenv: namespace %s: no default ServiceAccount after 30s", ns.Name)
	}
	return ns.Name
}

var nonDNS = regexp.MustCompile(`[^a-z0-9-]+`)

// namePrefix turns a test name into a namespace GenerateName: a DNS label
// prefix short enough to leave room for the random suffix.
func namePrefix(testName string) string {
	p := nonDNS.ReplaceAllString(strings.ToLower(testName), "-")
	p = strings.Trim(p, "-")
	if len(p) > 40 {
		p = strings.TrimRight(p[:40], "-")
	}
	if p == "" {
		p = "test"
	}
	return p + "-"
}

// Kubeconfig writes a cluster-admin kubeconfig for t, for tests that run
// envctl's CLI or other kubeconfig readers, and returns its path. Its
// context is named "envctl-test".
func (e *Env) Kubeconfig(t testing.TB) string {
	t.Helper()
	data, err := e.cp.Kubeconfig("envctl-test")
	if err != nil {
		t.Fatalf("testenv: kubeconfig: %v", err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatalf("testenv: write kubeconfig: %v", err)
	}
	return path
}
