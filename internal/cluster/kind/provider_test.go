package kind

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/envctl/envctl/internal/cluster"
	"github.com/envctl/envctl/internal/cluster/kind/kindtest"
	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/errs"
)

// fakeDocker is a docker client whose daemon answers the questions kind
// asks first, lists the clusters in $FAKE_KIND_CLUSTERS, and hangs pulling
// images, so that a create runs into its deadline. Every call is logged.
const fakeDocker = `#!/bin/sh
echo "$*" >> "$FAKE_DOCKER_LOG"
case "$1 $2 $3 " in
"info --format {{.ServerVersion}} ") echo 27.3.1 ;;
"info --format {{json .}} ") echo '{"CgroupDriver":"systemd","CgroupVersion":"2","MemoryLimit":true,"PidsLimit":true,"CPUShares":true}' ;;
"inspect --type=image "*) exit 1 ;;
"pull "*) sleep 5 ;;
"ps "*) for c in $FAKE_KIND_CLUSTERS; do echo "$c"; done ;;
esac
exit 0
`

const downDocker = `#!/bin/sh
echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2
exit 1
`

// withDocker puts a fake docker first on PATH (keeping the system
// directories for sh and sleep) and returns the file its calls are logged to.
func withDocker(t *testing.T, script, clusters string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "docker"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	logFile := filepath.Join(dir, "calls.log")
	t.Setenv("PATH", dir+string(os.PathListSeparator)+"/usr/bin:/bin")
	t.Setenv("KIND_EXPERIMENTAL_PROVIDER", "docker")
	t.Setenv("FAKE_DOCKER_LOG", logFile)
	t.Setenv("FAKE_KIND_CLUSTERS", clusters)
	return logFile
}

// steps records progress the way a user sees it.
type steps struct {
	mu    sync.Mutex
	lines []string
}

func (s *steps) Step(name string) func(error) {
	return func(err error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		mark := "✓"
		if err != nil {
			mark = "✗"
		}
		s.lines = append(s.lines, mark+" "+name)
	}
}

func (s *steps) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.lines, "\n")
}

func TestEnsureDeadlineDeletesHalfCreatedCluster(t *testing.T) {
	calls := withDocker(t, fakeDocker, "")
	state := t.TempDir()
	p := New(cluster.Options{StateDir: state})
	p.grace = time.Second
	t.Cleanup(p.creates.Wait)
	progress := &steps{}

	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := p.Ensure(ctx, cluster.Spec{Name: "ml", Progress: progress})
	elapsed := time.Since(start)

	if err == nil {
		t.Fatal("Ensure succeeded against a daemon that never pulls")
	}
	if errs.KindOf(err) != errs.KindTimeout {
		t.Errorf("kind %v, want timeout: %v", errs.KindOf(err), err)
	}
	if !strings.Contains(err.Error(), `create kind cluster ml: not done when the deadline passed, kind still at "Ensuring node image (kindest/node:v1.37.0)"; deleted the half-created cluster`) {
		t.Errorf("error = %v", err)
	}
	if elapsed > 5*time.Second {
		t.Errorf("Ensure returned after %v; the deadline was 1.5s and the grace 1s", elapsed)
	}
	if ok, _ := p.Exists(context.Background(), "ml"); ok {
		t.Errorf("the record of the deleted cluster is still there")
	}
	log, _ := os.ReadFile(calls)
	if !strings.Contains(string(log), "label=io.x-k8s.kind.cluster=ml") {
		t.Errorf("kind was not asked to delete the cluster's nodes; docker calls:\n%s", log)
	}
	want := "✓ Checking container runtime\n✗ Ensuring node image (kindest/node:v1.37.0)"
	if !strings.HasPrefix(progress.String(), want) {
		t.Errorf("progress:\n%s\nwant it to start with:\n%s", progress, want)
	}
}

func TestEnsureWithoutRuntime(t *testing.T) {
	withDocker(t, downDocker, "")
	p := New(cluster.Options{StateDir: t.TempDir()})
	_, err := p.Ensure(context.Background(), cluster.Spec{Name: "ml"})
	if err == nil {
		t.Fatal("Ensure succeeded without a container runtime")
	}
	if errs.KindOf(err) != errs.KindInput {
		t.Errorf("kind %v, want input", errs.KindOf(err))
	}
	for _, w := range []string{
		"provider kind needs a container runtime: no container runtime answered: docker: Cannot connect to the Docker daemon",
		"use the embedded cluster (spec.cluster.provider: embedded)",
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
}

func TestEnsureRefusesKindClusterEnvctlDidNotCreate(t *testing.T) {
	w := newWorld(t, mlNodes("running"))
	_, err := w.provider().Ensure(context.Background(), cluster.Spec{Name: "ml"})
	if err == nil || errs.KindOf(err) != errs.KindInput || !strings.Contains(err.Error(), "a kind cluster named ml exists that envctl did not create") {
		t.Errorf("err = %v, want bad input saying the kind cluster is not envctl's", err)
	}
}

func TestEnsureRejectsBadInputBeforeAskingDocker(t *testing.T) {
	calls := withDocker(t, fakeDocker, "")
	p := New(cluster.Options{StateDir: t.TempDir()})
	for _, spec := range []cluster.Spec{
		{Name: "Bad_Name"},
		{Name: "ml", Cluster: configWithRole("leader")},
	} {
		_, err := p.Ensure(context.Background(), spec)
		if errs.KindOf(err) != errs.KindInput {
			t.Errorf("Ensure(%+v) = %v, want bad input", spec, err)
		}
	}
	if b, _ := os.ReadFile(calls); len(b) != 0 {
		t.Errorf("docker was called for bad input:\n%s", b)
	}
}

func TestDelete(t *testing.T) {
	theirs := kindtest.Node("theirs", "control-plane", "", "kindest/node:v1.37.0")
	w := newWorld(t, []*kindtest.Container{theirs})
	p := w.provider()
	ctx := context.Background()

	err := p.Delete(ctx, "theirs")
	if err == nil || !strings.Contains(err.Error(), "kind cluster theirs was not created by envctl") || !strings.Contains(err.Error(), "kind delete cluster --name theirs") {
		t.Errorf("Delete(theirs) = %v", err)
	}
	err = p.Delete(ctx, "nowhere")
	if !cluster.IsNotFound(err) || errs.KindOf(err) != errs.KindInput {
		t.Errorf("Delete(nowhere) = %v, want not found", err)
	}

	// A cluster envctl created whose containers are already gone: delete
	// forgets it.
	if err := p.writeRecord(record{Name: "ours", Runtime: "docker", Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := p.Delete(ctx, "ours"); err != nil {
		t.Fatalf("Delete(ours) = %v", err)
	}
	if ok, _ := p.Exists(ctx, "ours"); ok {
		t.Errorf("ours still exists after Delete")
	}
}

func TestDeleteRemovesContainers(t *testing.T) {
	w := newWorld(t, mlNodes("running"))
	w.record("docker")
	if err := w.provider().Delete(context.Background(), "ml"); err != nil {
		t.Fatal(err)
	}
	if left := w.rt.State().Containers; len(left) != 0 {
		t.Errorf("containers left after Delete: %v", left)
	}
	if rm := w.rt.Called("docker rm -f -v"); len(rm) != 1 || !strings.Contains(rm[0], "ml-control-plane") || !strings.Contains(rm[0], "ml-worker") {
		t.Errorf("rm calls = %v", rm)
	}
}

func TestList(t *testing.T) {
	state := t.TempDir()
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	seed := New(cluster.Options{StateDir: state})
	for _, n := range []string{"b", "a"} {
		if err := seed.writeRecord(record{Name: n, Runtime: "docker", Created: created}); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("runtime down", func(t *testing.T) {
		withDocker(t, downDocker, "")
		got, err := New(cluster.Options{StateDir: state}).List(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].Name != "a" || got[1].Name != "b" {
			t.Fatalf("List = %+v, want a and b", got)
		}
		for _, in := range got {
			if in.Status != cluster.StatusUnknown || !strings.Contains(in.Message, "Cannot connect to the Docker daemon") || !in.Created.Equal(created) || in.Context != "kind-"+in.Name {
				t.Errorf("%+v: want status unknown saying why, with created time and context", in)
			}
		}
	})
	t.Run("containers gone", func(t *testing.T) {
		newWorld(t, []*kindtest.Container{kindtest.Node("someone-elses", "control-plane", "", "kindest/node:v1.37.0")})
		got, err := New(cluster.Options{StateDir: state}).List(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 {
			t.Fatalf("List = %+v; it must list only envctl's clusters", got)
		}
		for _, in := range got {
			if in.Status != cluster.StatusMissing {
				t.Errorf("%s: status %s, want missing", in.Name, in.Status)
			}
		}
	})
}

func TestKubeconfigOfMissingCluster(t *testing.T) {
	withDocker(t, fakeDocker, "")
	p := New(cluster.Options{StateDir: t.TempDir()})
	_, err := p.Kubeconfig(context.Background(), "ml")
	if !cluster.IsNotFound(err) {
		t.Errorf("Kubeconfig = %v, want not found", err)
	}
	_, err = p.RESTConfig(context.Background(), "ml")
	if !cluster.IsNotFound(err) {
		t.Errorf("RESTConfig = %v, want not found", err)
	}
}

func TestDescribeQuotesCommandOutput(t *testing.T) {
	withDocker(t, "#!/bin/sh\necho 'Bind for 0.0.0.0:8080 failed: port is already allocated' >&2\nexit 125\n", "")
	err := runDocker()
	got := describe(err).Error()
	if !strings.Contains(got, "port is already allocated") {
		t.Errorf("describe = %q, want the command's output", got)
	}
	if plain := errors.New("x"); describe(plain) != plain {
		t.Errorf("describe changed an error without output")
	}
}

func TestLoggerTurnsKindStatusIntoSteps(t *testing.T) {
	progress := &steps{}
	l := newLogger(discard(), progress)
	l.V(0).Infof("Creating cluster %q ...\n", "ml")
	l.V(0).Infof(" • %s  ...\n", "Ensuring node image (kindest/node:v1.37.0) 🖼")
	l.V(0).Infof(" ✓ %s\n", "Ensuring node image (kindest/node:v1.37.0) 🖼")
	l.V(0).Infof(" • %s  ...\n", "Preparing nodes 📦 📦")
	l.V(0).Infof(" ✗ %s\n", "Preparing nodes 📦 📦")
	l.V(0).Infof(" • %s  ...\n", "Writing configuration 📜")
	l.detach()
	l.V(0).Infof(" ✓ %s\n", "Writing configuration 📜")
	want := "✓ Ensuring node image (kindest/node:v1.37.0)\n✗ Preparing nodes\n✗ Writing configuration"
	if got := progress.String(); got != want {
		t.Errorf("progress:\n%s\nwant:\n%s", got, want)
	}
}

func ExampleClusterConfig() {
	c, _ := ClusterConfig("ml", nil)
	b, _ := MarshalConfig(c)
	fmt.Print(string(b))
	// Output:
	// apiVersion: kind.x-k8s.io/v1alpha4
	// containerdConfigPatches:
	// - |
	//   [plugins."io.containerd.grpc.v1.cri".registry]
	//     config_path = "/etc/containerd/certs.d"
	// kind: Cluster
	// name: ml
	// networking: {}
	// nodes:
	// - image: kindest/node:v1.37.0@sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5
	//   role: control-plane
}

// portTakenDocker has the node image, and fails to start node containers
// the way Docker does when a host port is taken.
const portTakenDocker = `#!/bin/sh
echo "$*" >> "$FAKE_DOCKER_LOG"
case "$1 $2 $3 " in
"info --format {{.ServerVersion}} ") echo 27.3.1 ;;
"info --format {{json .}} ") echo '{"CgroupDriver":"systemd","CgroupVersion":"2","MemoryLimit":true,"PidsLimit":true,"CPUShares":true}' ;;
"run "*) echo "docker: Error response from daemon: Bind for 127.0.0.1:8080 failed: port is already allocated." >&2; exit 125 ;;
esac
exit 0
`

func TestEnsureReportsRuntimeFailure(t *testing.T) {
	calls := withDocker(t, portTakenDocker, "")
	p := New(cluster.Options{StateDir: t.TempDir()})
	progress := &steps{}
	spec := cluster.Spec{Name: "ml", Progress: progress, Cluster: config.ClusterSpec{Kind: &config.KindSpec{Nodes: []config.KindNode{
		{Role: "control-plane", ExtraPortMappings: []config.PortMapping{{ContainerPort: 30080, HostPort: 8080, ListenAddress: "127.0.0.1"}}},
		{Role: "worker", Labels: map[string]string{"envctl.dev/pool": "cpu"}},
	}}}}
	_, err := p.Ensure(context.Background(), spec)
	if err == nil {
		t.Fatal("Ensure succeeded though no node container started")
	}
	if errs.KindOf(err) != errs.KindCluster {
		t.Errorf("kind %v, want cluster: %v", errs.KindOf(err), err)
	}
	for _, w := range []string{"create kind cluster ml:", "port is already allocated"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not say %q:\n%v", w, err)
		}
	}
	t.Logf("error as the user sees it:\n%v", err)
	if ok, _ := p.Exists(context.Background(), "ml"); ok {
		t.Errorf("the record of a cluster that failed to create is left behind")
	}
	// kind runs the nodes' containers side by side and returns at the
	// first failure, so the control plane's run may be logged after it.
	var log []byte
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		log, _ = os.ReadFile(calls)
		if strings.Contains(string(log), "--publish=127.0.0.1:8080:30080/TCP") || time.Now().After(deadline) {
			break
		}
	}
	if !strings.Contains(string(log), "--publish=127.0.0.1:8080:30080/TCP") {
		t.Errorf("the port mapping did not reach docker run; calls:\n%s", log)
	}
	if !strings.Contains(progress.String(), "✗ Preparing nodes") {
		t.Errorf("progress:\n%s", progress)
	}
}
