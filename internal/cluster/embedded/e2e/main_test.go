package e2e_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/envctl/envctl/internal/cli"
)

// asCLIEnv makes the test binary act as envctl: the tests run every
// command as a process of its own, and os.Executable() of those processes
// is then a valid envctl for the serve processes they start.
const asCLIEnv = "ENVCTL_TEST_AS_CLI"

func TestMain(m *testing.M) {
	if os.Getenv(asCLIEnv) == "1" {
		os.Exit(cli.Main(os.Args[1:], cli.StdStreams()))
	}
	if os.Getenv(exitingLeaderEnv) == "1" {
		exitingLeader()
	}
	os.Exit(m.Run())
}

// commandTimeout bounds each envctl command a test runs.
const commandTimeout = 3 * time.Minute

// sandbox is one test's world: a working directory outside any
// repository, a home, a state directory and a kubeconfig of its own.
type sandbox struct {
	t          testing.TB
	work       string
	home       string
	state      string
	kubeconfig string
	// path, when set, replaces $PATH for the commands.
	path string
}

func newSandbox(t testing.TB) *sandbox {
	t.Helper()
	if testing.Short() {
		t.Skip("starts embedded clusters")
	}
	s := &sandbox{t: t, work: t.TempDir(), home: t.TempDir(), state: t.TempDir()}
	s.kubeconfig = filepath.Join(s.home, ".kube", "config")
	// Registered after the temporary directories, so it runs before they
	// are removed: a failed test must not leave a cluster running.
	t.Cleanup(s.killServers)
	return s
}

// root is envctl's state root in the sandbox.
func (s *sandbox) root() string { return filepath.Join(s.state, "envctl") }

// clusterDir is the state directory of embedded cluster name.
func (s *sandbox) clusterDir(name string) string {
	return filepath.Join(s.root(), "clusters", "embedded", name)
}

// result is what an envctl command did.
type result struct {
	args           []string
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("envctl %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

// env is the environment of the sandbox's commands.
func (s *sandbox) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "HOME" || k == "KUBECONFIG" || k == "XDG_STATE_HOME" || k == "KIND_EXPERIMENTAL_PROVIDER" || strings.HasPrefix(k, "ENVCTL_") ||
			k == "PATH" && s.path != "" {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, asCLIEnv+"=1", "HOME="+s.home, "KUBECONFIG="+s.kubeconfig, "XDG_STATE_HOME="+s.state)
	if s.path != "" {
		env = append(env, "PATH="+s.path)
	}
	return env
}

// command prepares envctl args in the sandbox's working directory.
func (s *sandbox) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Dir = s.work
	cmd.Env = s.env()
	return cmd
}

// run runs envctl args and returns what it did.
func (s *sandbox) run(args ...string) result {
	s.t.Helper()
	return s.runEnv(nil, args...)
}

// runEnv runs envctl args with more environment variables.
func (s *sandbox) runEnv(env []string, args ...string) result {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := s.command(ctx, args...)
	cmd.Env = append(cmd.Env, env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := result{args: args, stdout: out.String(), stderr: errOut.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		s.t.Fatalf("envctl %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// mustRun runs envctl args and fails the test unless it exits 0.
func (s *sandbox) mustRun(args ...string) result {
	s.t.Helper()
	r := s.run(args...)
	if r.code != 0 {
		s.t.Fatalf("%v", r)
	}
	return r
}

// serveProcs returns the pids of the serve processes of cluster name in
// this sandbox, found by their command line.
func (s *sandbox) serveProcs(name string) []int {
	return s.procs(func(args []string) bool {
		i := slices.Index(args, "serve")
		return i > 0 && args[i-1] == "cluster" && i+1 < len(args) && args[i+1] == name
	})
}

// procs returns the running processes of this sandbox whose arguments
// match: those whose command line names its state root.
func (s *sandbox) procs(match func(args []string) bool) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimSuffix(string(data), "\x00"), "\x00")
		if !slices.Contains(args, s.root()) || !match(args) {
			continue
		}
		if !alive(pid) {
			continue // exited, waiting for its parent
		}
		pids = append(pids, pid)
	}
	return pids
}

// killServers kills every process of the sandbox that is still running.
func (s *sandbox) killServers() {
	left := s.procs(func([]string) bool { return true })
	for _, pid := range left {
		s.t.Logf("killing serve process %d left running", pid)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(s.procs(func([]string) bool { return true })) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
}

// pid reads the serve process's pid from the cluster's pid file.
func (s *sandbox) pid(name string) int {
	s.t.Helper()
	data, err := os.ReadFile(filepath.Join(s.clusterDir(name), "serve.pid"))
	if err != nil {
		s.t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.Fields(string(data))[0])
	if err != nil {
		s.t.Fatal(err)
	}
	return pid
}

// loadKubeconfig reads the sandbox's kubeconfig.
func (s *sandbox) loadKubeconfig() *clientcmdapi.Config {
	s.t.Helper()
	cfg, err := clientcmd.LoadFromFile(s.kubeconfig)
	if errors.Is(err, os.ErrNotExist) {
		return clientcmdapi.NewConfig()
	}
	if err != nil {
		s.t.Fatal(err)
	}
	return cfg
}

// client is a client for context envctl-NAME of the sandbox's kubeconfig:
// what a user's kubectl --context envctl-NAME would use.
func (s *sandbox) client(name string) (kubernetes.Interface, *rest.Config) {
	s.t.Helper()
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: s.kubeconfig},
		&clientcmd.ConfigOverrides{CurrentContext: "envctl-" + name},
	).ClientConfig()
	if err != nil {
		s.t.Fatalf("kubeconfig context envctl-%s: %v", name, err)
	}
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		s.t.Fatal(err)
	}
	return c, cfg
}

// alive reports whether process pid exists and has not exited.
func alive(pid int) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	// A zombie has exited, once the last of its threads has (num_threads,
	// field 20): until then they hold its files and sockets.
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	return len(f) > 17 && (f[0] != "Z" || f[17] != "0" && f[17] != "1")
}

// eventually polls check until it reports done, failing t after timeout
// with what check last said.
func eventually(t testing.TB, timeout time.Duration, what string, check func(ctx context.Context) (bool, string, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	last := "not checked"
	for {
		done, state, err := check(ctx)
		if err != nil {
			state = fmt.Sprintf("error: %v", err)
		}
		if done {
			return
		}
		last = state
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not within %v; last seen: %s", what, timeout, last)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// writeFiles writes files under root (path relative to root: content).
func writeFiles(t testing.TB, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}
