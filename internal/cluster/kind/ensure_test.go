package kind

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/envctl/envctl/internal/cluster"
	"github.com/envctl/envctl/internal/cluster/kind/kindtest"
	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/errs"
)

// notes records progress steps and notes as the user sees them.
type notes struct {
	steps
	mu   sync.Mutex
	said []string
}

func (n *notes) Note(format string, args ...any) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.said = append(n.said, strings.TrimSpace(fmtSprintf(format, args...)))
}

func (n *notes) Notes() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return strings.Join(n.said, "\n")
}

// world is a fake runtime with the containers of a kind cluster called
// ml, a fake API server for it, and a state directory.
type world struct {
	t     *testing.T
	bin   string
	rt    *kindtest.Runtime
	api   *kindtest.APIServer
	state string
}

// newWorld installs fake clients (the first is the one with the cluster)
// on an empty PATH of their own; each answers unless down lists it.
func newWorld(t *testing.T, nodes []*kindtest.Container, clients ...string) *world {
	t.Helper()
	w := &world{t: t, bin: t.TempDir(), state: t.TempDir()}
	w.api = kindtest.NewAPIServer(t, "ml-control-plane", "ml-worker")
	t.Setenv("PATH", w.bin+string(os.PathListSeparator)+"/usr/bin:/bin")
	t.Setenv("KIND_EXPERIMENTAL_PROVIDER", "")
	t.Setenv("HOME", t.TempDir())
	t.Setenv("DOCKER_CONFIG", filepath.Join(t.TempDir(), "docker"))
	if len(clients) == 0 {
		clients = []string{"docker"}
	}
	for i, c := range clients {
		st := kindtest.State{Version: "27.3.1", NCPU: 8, MemTotal: 16 << 30, APIServer: w.api.Addr(), AdminConf: w.api.AdminConf("ml"),
			Down: "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"}
		if i == 0 {
			st.Add(nodes...)
			st.Networks = []string{"kind"}
		}
		rt := kindtest.Install(t, w.bin, c, st)
		if i == 0 {
			w.rt = rt
		}
	}
	old := cluster.ReportEvery
	cluster.ReportEvery = 300 * time.Millisecond
	t.Cleanup(func() { cluster.ReportEvery = old })
	return w
}

// mlNodes are the containers of a two-node cluster ml, in status.
func mlNodes(status string) []*kindtest.Container {
	cp := kindtest.Node("ml", "control-plane", "", "kindest/node:v1.37.0")
	wk := kindtest.Node("ml", "worker", "", "kindest/node:v1.37.0")
	cp.Status, wk.Status = status, status
	return []*kindtest.Container{cp, wk}
}

func (w *world) provider() *Provider {
	p := New(cluster.Options{StateDir: w.state})
	p.grace = time.Second
	// A create that outlives its deadline must finish against this
	// test's fake runtime, before PATH changes.
	w.t.Cleanup(p.creates.Wait)
	return p
}

// record writes envctl's record of ml on runtime.
func (w *world) record(runtime string) {
	w.t.Helper()
	if err := w.provider().writeRecord(record{Name: "ml", Runtime: runtime, Created: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}); err != nil {
		w.t.Fatal(err)
	}
}

func twoNodeSpec(progress cluster.Progress) cluster.Spec {
	return cluster.Spec{Name: "ml", Env: "local", Progress: progress, Cluster: config.ClusterSpec{Kind: &config.KindSpec{
		NodeImage: "kindest/node:v1.37.0",
		Nodes:     []config.KindNode{{Role: "control-plane"}, {Role: "worker"}},
	}}}
}

func TestEnsureStartsStoppedNodesLoadBalancerFirst(t *testing.T) {
	nodes := []*kindtest.Container{
		kindtest.Node("ml", "control-plane", "", "kindest/node:v1.37.0"),
		kindtest.Node("ml", "control-plane", "2", "kindest/node:v1.37.0"),
		kindtest.Node("ml", "worker", "", "kindest/node:v1.37.0"),
		kindtest.Node("ml", "external-load-balancer", "", "docker.io/kindest/haproxy:v20260101"),
	}
	for _, n := range nodes {
		n.Status = "exited"
	}
	w := newWorld(t, nodes)
	w.record("docker")
	progress := &notes{}
	spec := twoNodeSpec(progress)
	spec.Cluster.Kind.Nodes = []config.KindNode{{Role: "control-plane"}, {Role: "control-plane"}, {Role: "worker"}}

	info, err := w.provider().Ensure(context.Background(), spec)
	if err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	starts := w.rt.Called("docker start")
	want := []string{"docker start ml-external-load-balancer", "docker start ml-control-plane ml-control-plane2 ml-worker"}
	if strings.Join(starts, "\n") != strings.Join(want, "\n") {
		t.Errorf("start calls:\n%s\nwant:\n%s", strings.Join(starts, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(progress.String(), "✓ Starting stopped containers of kind cluster ml (ml-control-plane, ml-control-plane2, ml-external-load-balancer, ml-worker)") {
		t.Errorf("progress does not say it started the containers:\n%s", progress)
	}
	if info.Status != cluster.StatusRunning || info.Nodes != 2 || info.Version != "v1.37.0" {
		t.Errorf("info = %+v, want running with the API server's 2 nodes", info)
	}
	if run := w.rt.Called("docker run"); len(run) != 0 {
		t.Errorf("a stopped cluster must be started, not created: %v", run)
	}
	if m := w.api.ConfigMap("kube-system", "envctl-cluster"); m == nil || m.Data["runtime"] != "docker" || m.Data["created"] != "2026-01-02T03:04:05Z" {
		t.Errorf("ownership marker = %+v", m)
	}
}

func TestStoppedClusterIsReportedByListAndRESTConfig(t *testing.T) {
	w := newWorld(t, mlNodes("exited"))
	w.record("docker")
	p := w.provider()
	list, err := p.List(context.Background())
	if err != nil || len(list) != 1 || list[0].Status != cluster.StatusStopped || !strings.Contains(list[0].Message, "envctl cluster create ml") {
		t.Errorf("List = %+v, %v; want ml stopped, saying what starts it", list, err)
	}
	_, err = p.RESTConfig(context.Background(), "ml")
	if err == nil || errs.KindOf(err) != errs.KindCluster || !strings.Contains(err.Error(), "kind cluster ml is stopped (containers ml-control-plane, ml-worker are not running, as after a reboot)") {
		t.Errorf("RESTConfig = %v", err)
	}
}

func TestEnsureStaysOnTheRecordedRuntime(t *testing.T) {
	// The cluster was made on podman; docker answers too and comes first
	// in kind's order.
	w := newWorld(t, mlNodes("exited"), "podman", "docker")
	w.record("podman")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := w.provider().Ensure(ctx, twoNodeSpec(&notes{})); err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	if got := w.rt.Called("docker "); len(got) != 0 {
		t.Errorf("docker was asked about a podman cluster: %v", got)
	}
	if got := w.rt.Called("podman start"); len(got) != 1 {
		t.Errorf("podman start calls = %v, want one", got)
	}
}

func TestEnsureRecordedRuntimeDown(t *testing.T) {
	w := newWorld(t, nil, "docker", "podman")
	w.record("podman")
	var podman *kindtest.Runtime
	podman = kindtest.Install(t, w.bin, "podman", kindtest.State{Down: "Error: unable to connect to Podman socket: connection refused"})
	_, err := w.provider().Ensure(context.Background(), twoNodeSpec(&notes{}))
	if errs.KindOf(err) != errs.KindCluster {
		t.Fatalf("Ensure = %v, want a cluster error", err)
	}
	for _, want := range []string{"kind cluster ml runs on podman, which does not answer", "unable to connect to Podman socket", "`podman machine start`"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
	if got := podman.Called("docker"); len(got) != 0 {
		t.Errorf("docker was used instead: %v", got)
	}
}

func TestEnsureWaitsForAnotherEnvctl(t *testing.T) {
	w := newWorld(t, mlNodes("running"))
	w.record("docker")
	p := w.provider()
	path, _ := p.lockFile("ml")
	held, err := cluster.LockFile(context.Background(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	progress := &notes{}
	done := make(chan error, 1)
	go func() {
		_, err := p.Ensure(context.Background(), twoNodeSpec(progress))
		done <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(progress.Notes(), "is creating or starting kind cluster ml; waiting for it") {
		if time.Now().After(deadline) {
			t.Fatalf("no waiting note; notes:\n%s", progress.Notes())
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("Ensure returned while another held the lock: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	held.Unlock()
	if err := <-done; err != nil {
		t.Fatalf("Ensure after the lock was released: %v", err)
	}
	want := "another envctl (pid " + itoa(os.Getpid()) + ") is creating or starting kind cluster ml; waiting for it"
	if !strings.Contains(progress.Notes(), want) {
		t.Errorf("notes:\n%s\nwant %q", progress.Notes(), want)
	}
}

func TestConcurrentCreatesDoNotOverlap(t *testing.T) {
	w := newWorld(t, nil)
	w.rt.Set(func(s *kindtest.State) { s.PullHangs = true })
	first, second := w.provider(), w.provider()
	ctx1, cancel1 := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel1()
	var pullsWhenFirstEnded int
	firstDone := make(chan error, 1)
	go func() {
		_, err := first.Ensure(ctx1, twoNodeSpec(&notes{}))
		pullsWhenFirstEnded = len(w.rt.Called("docker pull"))
		firstDone <- err
	}()
	time.Sleep(500 * time.Millisecond)
	progress := &notes{}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel2()
	_, err2 := second.Ensure(ctx2, twoNodeSpec(progress))
	err1 := <-firstDone
	if errs.KindOf(err1) != errs.KindTimeout || errs.KindOf(err2) != errs.KindTimeout {
		t.Fatalf("errors %v / %v, want both timeouts against a runtime that never pulls", err1, err2)
	}
	if pullsWhenFirstEnded != 1 {
		t.Errorf("%d pulls had started when the first create ended; the second must wait for it", pullsWhenFirstEnded)
	}
	if !strings.Contains(progress.Notes(), "is creating or starting kind cluster ml; waiting for it") {
		t.Errorf("the second envctl did not say it waits:\n%s", progress.Notes())
	}
}

func TestEnsureLostRecord(t *testing.T) {
	w := newWorld(t, mlNodes("running"))
	created := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	w.api.PutConfigMap(&corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "envctl-cluster", Namespace: "kube-system", Labels: map[string]string{"app.kubernetes.io/managed-by": "envctl"}},
		Data:       map[string]string{"cluster": "ml", "runtime": "docker", "created": created.Format(time.RFC3339)},
	})
	p := w.provider()
	_, err := p.Ensure(context.Background(), twoNodeSpec(&notes{}))
	if errs.KindOf(err) != errs.KindInput {
		t.Fatalf("Ensure without --adopt = %v, want bad input", err)
	}
	for _, want := range []string{"kind cluster ml was created by envctl (on 2026-03-04) but its record in", "take it back with: envctl up local --adopt"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
	spec := twoNodeSpec(&notes{})
	spec.Adopt = true
	info, err := p.Ensure(context.Background(), spec)
	if err != nil {
		t.Fatalf("Ensure --adopt: %v", err)
	}
	if !info.Adopted || !info.Created.Equal(created) {
		t.Errorf("info = %+v, want adopted, created %v", info, created)
	}
	rec, _ := p.readRecord("ml")
	if rec == nil || rec.Runtime != "docker" || !rec.Created.Equal(created) || rec.Adopted.IsZero() {
		t.Errorf("record after adopt = %+v", rec)
	}
	if !strings.Contains(spec.Progress.(*notes).Notes(), "adopted kind cluster ml on docker: created by envctl on 2026-03-04, its record restored") {
		t.Errorf("notes:\n%s", spec.Progress.(*notes).Notes())
	}
}

func TestEnsureAdoptRefusesClusterWithoutMarker(t *testing.T) {
	w := newWorld(t, mlNodes("running"))
	spec := twoNodeSpec(&notes{})
	spec.Adopt = true
	_, err := w.provider().Ensure(context.Background(), spec)
	if errs.KindOf(err) != errs.KindInput || !strings.Contains(err.Error(), "has no envctl ownership marker (ConfigMap kube-system/envctl-cluster)") || !strings.Contains(err.Error(), "kind delete cluster --name ml") {
		t.Errorf("Ensure --adopt of a cluster envctl did not make = %v", err)
	}
}

func TestEnsureReportsDrift(t *testing.T) {
	nodes := mlNodes("running")
	nodes[0].Image = "kindest/node:v1.35.0"
	w := newWorld(t, nodes)
	w.record("docker")
	progress := &notes{}
	spec := twoNodeSpec(progress)
	spec.Cluster.Kind.Nodes[0].ExtraPortMappings = []config.PortMapping{{ContainerPort: 30080, HostPort: 8080}}
	spec.Cluster.Kind.Config = map[string]any{"nodes": []any{
		map[string]any{"role": "control-plane", "extraMounts": []any{map[string]any{"hostPath": "/data/models", "containerPath": "/models"}}},
		map[string]any{"role": "worker"},
	}}
	if _, err := w.provider().Ensure(context.Background(), spec); err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	want := `warning: kind cluster ml differs from its declaration, and kind cannot change the nodes of a running cluster:
  - node ml-control-plane runs image kindest/node:v1.35.0; declared kindest/node:v1.37.0
  - node ml-control-plane does not publish 127.0.0.1:8080 -> 30080/TCP
  - node ml-control-plane does not mount /data/models at /models
  recreate it to apply: envctl cluster delete ml && envctl up local`
	if !strings.Contains(progress.Notes(), want) {
		t.Errorf("notes:\n%s\nwant:\n%s", progress.Notes(), want)
	}
}

func TestEnsureTimeoutSaysWhatIsMissing(t *testing.T) {
	w := newWorld(t, mlNodes("running"))
	w.record("docker")
	w.api.SetNodeCondition(corev1.ConditionFalse, "KubeletNotReady", "container runtime network not ready: cni plugin not initialized", corev1.NodeDiskPressure)
	progress := &notes{}
	// Long enough for the fake runtime's answers on a loaded machine to
	// leave the wait several reports (every 300 ms) before the deadline.
	ctx, cancel := context.WithTimeoutCause(context.Background(), 4*time.Second, errs.Timeout(errString("--cluster-timeout 4s passed (setting cluster.timeout)")))
	defer cancel()
	_, err := w.provider().Ensure(ctx, twoNodeSpec(progress))
	if errs.KindOf(err) != errs.KindTimeout {
		t.Fatalf("Ensure = %v, want a timeout", err)
	}
	for _, want := range []string{
		"node ml-control-plane not Ready (KubeletNotReady: container runtime network not ready: cni plugin not initialized; DiskPressure)",
		"--cluster-timeout 4s passed (setting cluster.timeout)",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
	if !strings.Contains(progress.Notes(), "still waiting for kind cluster ml after") || !strings.Contains(progress.Notes(), "KubeletNotReady") {
		t.Errorf("no progress line said what was missing:\n%s", progress.Notes())
	}
}

func TestEnsurePreflightWarnsOfSmallRuntime(t *testing.T) {
	w := newWorld(t, nil)
	w.rt.Set(func(s *kindtest.State) {
		s.NCPU, s.MemTotal = 2, 4<<30
		s.RunFails = "docker: Error response from daemon: no space left on device."
		s.Images["kindest/node:v1.37.0"] = "sha256:node"
	})
	progress := &notes{}
	spec := twoNodeSpec(progress)
	spec.Cluster.Kind.Requires = map[string]string{"cpu": "4", "memory": "8Gi"}
	_, err := w.provider().Ensure(context.Background(), spec)
	if err == nil || !strings.Contains(err.Error(), "no space left on device") {
		t.Errorf("Ensure = %v, want the runtime's failure", err)
	}
	want := "warning: docker gives its containers only cpu 2 of the 4 required and memory 4.0Gi of the 8Gi required (spec.cluster.kind.requires): pods may stay Pending"
	if !strings.Contains(progress.Notes(), want) {
		t.Errorf("notes:\n%s\nwant %q", progress.Notes(), want)
	}
}

func TestLoadImages(t *testing.T) {
	nodes := mlNodes("running")
	nodes[0].Images["model:dev"] = "sha256:model"
	w := newWorld(t, nodes)
	w.record("docker")
	w.rt.Set(func(s *kindtest.State) { s.Images["model:dev"] = "sha256:model"; s.Images["api:dev"] = "sha256:api" })
	progress := &notes{}
	got, err := w.provider().LoadImages(context.Background(), "ml", []string{"model:dev", "api:dev"}, progress)
	if err != nil {
		t.Fatalf("LoadImages: %v", err)
	}
	if len(got) != 2 || strings.Join(got[0].Present, ",") != "ml-control-plane" || strings.Join(got[0].Loaded, ",") != "ml-worker" ||
		strings.Join(got[1].Loaded, ",") != "ml-control-plane,ml-worker" {
		t.Errorf("LoadImages = %+v", got)
	}
	saves := w.rt.Called("docker save")
	if len(saves) != 1 || !strings.HasSuffix(saves[0], " model:dev api:dev") {
		t.Errorf("save calls = %v, want one of both images", saves)
	}
	st := w.rt.State()
	for _, n := range []string{"ml-control-plane", "ml-worker"} {
		if st.Containers[n].Images["api:dev"] != "sha256:api" || st.Containers[n].Images["model:dev"] != "sha256:model" {
			t.Errorf("node %s has images %v after the load", n, st.Containers[n].Images)
		}
	}
	if !strings.Contains(progress.String(), "✓ Importing into ml-control-plane, ml-worker") {
		t.Errorf("progress:\n%s", progress)
	}
	_, err = w.provider().LoadImages(context.Background(), "ml", []string{"nothere:1"}, nil)
	if errs.KindOf(err) != errs.KindInput || !strings.Contains(err.Error(), "image nothere:1 is not in docker's image store (build or pull it first") {
		t.Errorf("LoadImages of a missing image = %v", err)
	}
}

func TestInternalKubeconfig(t *testing.T) {
	w := newWorld(t, mlNodes("running"))
	w.record("docker")
	b, err := w.provider().InternalKubeconfig(context.Background(), "ml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "server: https://ml-control-plane:6443") || !strings.Contains(string(b), "current-context: kind-ml") {
		t.Errorf("internal kubeconfig:\n%s", b)
	}
}
