package e2e_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/envctl/envctl/internal/cluster"
)

// The "what shows it is done": create, use through the written
// context, a second create that starts nothing, delete that leaves nothing.
func TestCreateUseDelete(t *testing.T) {
	s := newSandbox(t)
	r := s.mustRun("cluster", "create", "demo", "--provider", "embedded")
	// The kubeconfig had no current context, so the new one becomes it.
	for _, want := range []string{"Cluster demo is ready: embedded, Kubernetes v1.37.2, 1 node.", "context: envctl-demo in " + s.kubeconfig + " (current)"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("create output does not say %q:\n%v", want, r)
		}
	}
	if !strings.Contains(r.stderr, "Starting embedded control plane demo") {
		t.Errorf("create progress does not say it started the control plane:\n%v", r)
	}

	// The command has exited; the cluster runs on in a process of its
	// own, in a session of its own.
	pid := s.pid("demo")
	if !alive(pid) {
		t.Fatalf("serve process %d is not running after create returned", pid)
	}
	if sid := sessionOf(t, pid); sid != pid {
		t.Errorf("serve process %d is in session %d, want a session of its own", pid, sid)
	}
	if got := s.serveProcs("demo"); len(got) != 1 || got[0] != pid {
		t.Errorf("serve processes %v, want just %d", got, pid)
	}

	kc := s.loadKubeconfig()
	if kc.CurrentContext != "envctl-demo" {
		t.Errorf("current context %q, want envctl-demo", kc.CurrentContext)
	}
	c, cfg := s.client("demo")
	ctx := context.Background()
	nodes, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes.Items) != 1 {
		t.Errorf("%d nodes, want 1", len(nodes.Items))
	}
	for _, n := range nodes.Items {
		if !nodeReady(&n) {
			t.Errorf("node %s is not Ready", n.Name)
		}
	}
	checkWorkloads(t, c, "e2e")

	r = s.mustRun("cluster", "list", "-o", "json")
	var infos []cluster.Info
	if err := json.Unmarshal([]byte(r.stdout), &infos); err != nil {
		t.Fatalf("cluster list -o json: %v\n%s", err, r.stdout)
	}
	if len(infos) != 1 {
		t.Fatalf("cluster list: %d clusters, want 1:\n%s", len(infos), r.stdout)
	}
	in := infos[0]
	if in.Name != "demo" || in.Provider != "embedded" || in.Status != cluster.StatusRunning || in.Server != cfg.Host || in.Version != "v1.37.2" || in.Nodes != 1 || in.Created.IsZero() {
		t.Errorf("cluster list: %+v; want demo, embedded, running on %s, v1.37.2, 1 node, a creation time", in, cfg.Host)
	}

	// A kubeconfig of its own, for CI jobs: one context, credentials inline.
	r = s.mustRun("cluster", "kubeconfig", "demo", "--print")
	own, err := clientcmd.Load([]byte(r.stdout))
	if err != nil {
		t.Fatalf("cluster kubeconfig --print: %v\n%s", err, r.stdout)
	}
	if len(own.Contexts) != 1 || own.CurrentContext != "envctl-demo" || own.Clusters["envctl-demo"] == nil || own.Clusters["envctl-demo"].Server != cfg.Host ||
		len(own.Clusters["envctl-demo"].CertificateAuthorityData) == 0 || own.AuthInfos["envctl-demo"] == nil || len(own.AuthInfos["envctl-demo"].ClientKeyData) == 0 {
		t.Errorf("cluster kubeconfig --print: want one context envctl-demo for %s with inline credentials:\n%s", cfg.Host, r.stdout)
	}

	// Creates of the running cluster, two at once, start nothing.
	var wg sync.WaitGroup
	again := make([]result, 2)
	for i := range again {
		wg.Go(func() { again[i] = s.run("cluster", "create", "demo", "--provider", "embedded") })
	}
	wg.Wait()
	for _, r := range again {
		if r.code != 0 || !strings.Contains(r.stderr, "Embedded cluster demo is already running (serve process "+strconv.Itoa(pid)+"); nothing to start") {
			t.Errorf("create of the running cluster: want exit 0 and a note that it runs:\n%v", r)
		}
	}
	if got := s.serveProcs("demo"); len(got) != 1 || got[0] != pid {
		t.Errorf("serve processes after more creates: %v, want just %d", got, pid)
	}
	// Nor does serving it by hand.
	r = s.run("cluster", "serve", "demo", "--state-dir", s.root())
	if r.code != 5 || !strings.Contains(r.stderr, "embedded cluster demo is already served by process "+strconv.Itoa(pid)) {
		t.Errorf("serve of a served cluster: want exit 5 naming process %d:\n%v", pid, r)
	}

	r = s.mustRun("cluster", "delete", "demo")
	if !strings.Contains(r.stdout, "Deleted cluster demo (embedded).") {
		t.Errorf("delete output:\n%v", r)
	}
	if alive(pid) {
		t.Errorf("serve process %d still running after delete", pid)
	}
	if got := s.serveProcs("demo"); len(got) != 0 {
		t.Errorf("serve processes after delete: %v", got)
	}
	if _, err := os.Stat(s.clusterDir("demo")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state directory after delete: %v, want it gone", err)
	}
	kc = s.loadKubeconfig()
	if _, ok := kc.Contexts["envctl-demo"]; ok {
		t.Error("context envctl-demo still in the kubeconfig after delete")
	}
	if _, ok := kc.Clusters["envctl-demo"]; ok {
		t.Error("cluster envctl-demo still in the kubeconfig after delete")
	}
	if _, ok := kc.AuthInfos["envctl-demo"]; ok {
		t.Error("user envctl-demo still in the kubeconfig after delete")
	}
	if kc.CurrentContext != "" {
		t.Errorf("current context %q after delete, want it cleared: it named the deleted cluster", kc.CurrentContext)
	}
}

// Two creates of a new cluster at once make one cluster: one starts it,
// the other waits and finds it running.
func TestConcurrentCreates(t *testing.T) {
	s := newSandbox(t)
	var wg sync.WaitGroup
	rs := make([]result, 2)
	for i := range rs {
		wg.Go(func() { rs[i] = s.run("cluster", "create", "race", "--provider", "embedded", "--set-context=false") })
	}
	wg.Wait()
	started, noop := 0, 0
	for _, r := range rs {
		if r.code != 0 {
			t.Fatalf("concurrent create failed:\n%v", r)
		}
		if strings.Contains(r.stderr, "Starting embedded control plane race") {
			started++
		}
		if strings.Contains(r.stderr, "already running") {
			noop++
		}
	}
	if started != 1 || noop != 1 {
		t.Errorf("%d creates started the cluster and %d found it running, want 1 and 1:\n%v\n%v", started, noop, rs[0], rs[1])
	}
	if got := s.serveProcs("race"); len(got) != 1 {
		t.Errorf("serve processes %v, want one", got)
	}
	s.mustRun("cluster", "delete", "race")
}

// The nodes come from the environment; a cluster whose serve process died
// is restarted from its state (objects kept) on a new port when its old
// one is taken, and the context is rewritten; a pid file naming another
// program's process is stale; SIGTERM stops the serve process cleanly.
func TestRestartFromState(t *testing.T) {
	s := newSandbox(t)
	repo := t.TempDir()
	writeFiles(t, repo, map[string]string{
		"config.yaml": "apiVersion: envctl.dev/v1alpha1\nkind: Config\nmetadata:\n  name: e2e\nspec:\n  defaultEnvironment: dev\n",
		"environments/dev.yaml": `apiVersion: envctl.dev/v1alpha1
kind: Environment
metadata:
  name: dev
spec:
  cluster:
    provider: embedded
    name: phoenix
    embedded:
      nodes:
        - name: gpu
          count: 2
          capacity: {cpu: "4", memory: 16Gi, nvidia.com/gpu: "1"}
          labels: {accelerator: sim}
  components: []
`,
	})
	s.mustRun("-C", repo, "cluster", "create", "--env", "dev")
	c, cfg := s.client("phoenix")
	ctx := context.Background()
	nodes, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: "accelerator=sim"})
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes.Items) != 2 {
		t.Fatalf("%d nodes labelled accelerator=sim, want the environment's 2", len(nodes.Items))
	}
	for _, n := range nodes.Items {
		if gpu := n.Status.Capacity["nvidia.com/gpu"]; !strings.HasPrefix(n.Name, "gpu") || gpu.String() != "1" {
			t.Errorf("node %s: capacity nvidia.com/gpu %s; want a node of pool gpu with 1", n.Name, gpu.String())
		}
	}
	if _, err := c.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "kept"}, Data: map[string]string{"k": "v"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// The serve process dies without a chance to clean up, and another
	// program takes its port.
	first := s.pid("phoenix")
	if err := kill(first); err != nil {
		t.Fatal(err)
	}
	oldPort := portOf(t, cfg.Host)
	squatter, err := listenOn(oldPort)
	if err != nil {
		t.Fatalf("take port %d: %v", oldPort, err)
	}
	defer squatter.Close()
	r := s.mustRun("cluster", "list")
	if !strings.Contains(r.stdout, "phoenix") || !strings.Contains(r.stdout, "stopped") {
		t.Errorf("cluster list after the serve process died: want phoenix stopped:\n%v", r)
	}

	r = s.mustRun("-C", repo, "cluster", "create", "--env", "dev")
	if want := "Restarting embedded control plane phoenix from its state (its serve process " + strconv.Itoa(first) + " is gone)"; !strings.Contains(r.stderr, want) {
		t.Errorf("create after the serve process died does not say %q:\n%v", want, r)
	}
	c, cfg = s.client("phoenix")
	if portOf(t, cfg.Host) == oldPort {
		t.Errorf("restarted on port %d, which another program holds", oldPort)
	}
	cm, err := c.CoreV1().ConfigMaps("default").Get(ctx, "kept", metav1.GetOptions{})
	if err != nil || cm.Data["k"] != "v" {
		t.Errorf("ConfigMap from before the restart, through the rewritten context: %v, %v", cm, err)
	}
	if n, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err != nil || len(n.Items) != 2 {
		t.Errorf("nodes after restart: %v, %v; want the 2 of before", n, err)
	}

	// SIGTERM: the control plane stops, the pid file goes, the log says so.
	second := s.pid("phoenix")
	if err := terminate(second); err != nil {
		t.Fatal(err)
	}
	dir := s.clusterDir("phoenix")
	if _, err := os.Stat(filepath.Join(dir, "serve.pid")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pid file after SIGTERM: %v, want it removed", err)
	}
	logData, err := os.ReadFile(filepath.Join(dir, "serve.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(logData), `msg="embedded cluster stopped" cluster=phoenix`) {
		t.Errorf("serve.log does not record a clean stop:\n%s", logData)
	}

	// A pid file naming a live process of another program is stale.
	other := startOther(t)
	if err := os.WriteFile(filepath.Join(dir, "serve.pid"), []byte(strconv.Itoa(other.Process.Pid)+" some-other-boot:1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = s.mustRun("cluster", "list", "-o", "json")
	if !strings.Contains(r.stdout, `"status": "stopped"`) {
		t.Errorf("cluster list with a reused pid: want stopped:\n%v", r)
	}
	r = s.mustRun("-C", repo, "cluster", "create", "--env", "dev")
	if !strings.Contains(r.stderr, "Restarting embedded control plane phoenix") {
		t.Errorf("create with a reused pid in the pid file did not restart:\n%v", r)
	}
	if !alive(other.Process.Pid) {
		t.Error("the other program whose pid was in the pid file was killed")
	}
	s.mustRun("cluster", "delete", "phoenix")
	if got := s.serveProcs("phoenix"); len(got) != 0 {
		t.Errorf("serve processes after delete: %v", got)
	}
}

// A create that runs out of time stops the serve process and removes what
// it made.
func TestCreateTimeout(t *testing.T) {
	s := newSandbox(t)
	r := s.run("cluster", "create", "slow", "--provider", "embedded", "--wait", "300ms")
	if r.code != 4 {
		t.Fatalf("create with a 300ms deadline: want exit 4 (timeout):\n%v", r)
	}
	for _, want := range []string{"not serving the API in time", "stopped it and removed the half-created cluster"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("timeout error does not say %q:\n%v", want, r)
		}
	}
	if got := s.serveProcs("slow"); len(got) != 0 {
		t.Errorf("serve processes after a timed-out create: %v", got)
	}
	if _, err := os.Stat(s.clusterDir("slow")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state directory after a timed-out create: %v, want it gone", err)
	}
	if _, ok := s.loadKubeconfig().Contexts["envctl-slow"]; ok {
		t.Error("a timed-out create wrote a kubeconfig context")
	}
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// waitExit waits until pid has exited.
func waitExit(pid int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for alive(pid) {
		if time.Now().After(deadline) {
			return errors.New("process " + strconv.Itoa(pid) + " still running")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}
