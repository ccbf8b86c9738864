package cli

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/envctl/envctl/internal/cluster"
	"github.com/envctl/envctl/internal/cluster/kind/kindtest"
)

// kindRepo writes a repository whose environment local runs on a kind
// cluster called ml, and returns its root.
func kindRepo(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	writeClusterFiles(t, root, map[string]string{
		"config.yaml": "apiVersion: envctl.dev/v1alpha1\nkind: Config\nspec:\n  defaultEnvironment: local\n",
		"environments/local.yaml": `apiVersion: envctl.dev/v1alpha1
kind: Environment
metadata: {name: local}
spec:
  cluster:
    provider: kind
    name: ml
    kind: {nodes: [{role: control-plane}, {role: worker}]}
  components:
    - name: platform
      kustomize: overlays/local
`,
		"overlays/local/kustomization.yaml": "resources: []\n",
	})
	return root
}

// kindWorld puts a fake docker with the running cluster ml on the
// sandbox's PATH, records it as envctl's, and returns the fake API server
// its kubeconfig leads to.
func (c *clusterCLI) kindWorld() (*kindtest.Runtime, *kindtest.APIServer) {
	c.t.Helper()
	api := kindtest.NewAPIServer(c.t, "ml-control-plane", "ml-worker")
	st := kindtest.State{Version: "27.3.1", NCPU: 8, MemTotal: 16 << 30, APIServer: api.Addr(), AdminConf: api.AdminConf("ml"), Networks: []string{"kind"}}
	st.Add(kindtest.Node("ml", "control-plane", "", "kindest/node:v1.37.0@sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5"),
		kindtest.Node("ml", "worker", "", "kindest/node:v1.37.0@sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5"))
	rt := kindtest.Install(c.t, c.bin, "docker", st)
	writeClusterFiles(c.t, c.state, map[string]string{
		filepath.Join("envctl", "clusters", "kind", "ml", "cluster.json"): `{"name": "ml", "runtime": "docker", "created": "2026-01-02T03:04:05Z"}`,
	})
	c.t.Setenv("DOCKER_CONFIG", filepath.Join(c.t.TempDir(), "docker"))
	old := cluster.ReportEvery
	cluster.ReportEvery = 500 * time.Millisecond
	c.t.Cleanup(func() { cluster.ReportEvery = old })
	return rt, api
}

// Every command that waits for a cluster gives up at --cluster-timeout
// (or ENVCTL_CLUSTER_TIMEOUT), exits 4 and names what was missing, after
// saying so while it waited.
func TestClusterTimeoutReachesEveryCommandThatWaits(t *testing.T) {
	for _, args := range [][]string{
		{"up", "--cluster-timeout", "6s"},
		{"sync", "--cluster-timeout", "6s"},
		{"cluster", "create", "--cluster-timeout", "6s"},
		{"cluster", "create", "ENV:6s"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			c := newClusterCLI(t)
			_, api := c.kindWorld()
			api.SetNodeCondition(corev1.ConditionFalse, "KubeletNotReady", "container runtime network not ready: cni plugin not initialized")
			repo := kindRepo(t)
			if args[len(args)-1] == "ENV:6s" {
				args = args[:len(args)-1]
				t.Setenv("ENVCTL_CLUSTER_TIMEOUT", "6s")
			}
			code, _, errOut := c.run(append([]string{"-C", repo}, args...)...)
			if code != ExitTimeout {
				t.Fatalf("exit %d, want %d (timeout); stderr:\n%s", code, ExitTimeout, errOut)
			}
			for _, want := range []string{
				"still waiting for kind cluster ml after",
				"node ml-control-plane not Ready (KubeletNotReady: container runtime network not ready: cni plugin not initialized)",
				"--cluster-timeout 6s passed (setting cluster.timeout)",
			} {
				if !strings.Contains(errOut, want) {
					t.Errorf("stderr does not say %q:\n%s", want, errOut)
				}
			}
		})
	}
}

// An error never suggests a flag the command does not have.
func TestErrorsSuggestOnlyFlagsTheCommandHas(t *testing.T) {
	c := newClusterCLI(t)
	repo := kindRepo(t)
	code, _, errOut := c.run("-C", repo, "up")
	if code != ExitInput || !strings.Contains(errOut, "provider kind needs a container runtime") {
		t.Fatalf("up without a runtime: exit %d\n%s", code, errOut)
	}
	root := NewRootCmd(&Factory{Streams: IOStreams{}, Global: &GlobalOptions{}})
	up, _, err := root.Find([]string{"up"})
	if err != nil {
		t.Fatal(err)
	}
	// Flags inside a whole command (`envctl cluster create NAME --x`) are
	// that command's; the others must be up's.
	bare := regexp.MustCompile("`[^`]*`").ReplaceAllString(errOut, "")
	for _, m := range regexp.MustCompile(`--([a-z][a-z-]+)`).FindAllStringSubmatch(bare, -1) {
		if up.Flags().Lookup(m[1]) == nil && up.InheritedFlags().Lookup(m[1]) == nil {
			t.Errorf("up's error suggests --%s, which up does not have:\n%s", m[1], errOut)
		}
	}
}

func TestClusterLoad(t *testing.T) {
	c := newClusterCLI(t)
	rt, _ := c.kindWorld()
	rt.Set(func(s *kindtest.State) {
		s.Images["model:dev"] = "sha256:model"
		s.Containers["ml-worker"].Images["model:dev"] = "sha256:model"
	})
	repo := kindRepo(t)
	code, out, errOut := c.run("-C", repo, "cluster", "load", "model:dev")
	if code != 0 {
		t.Fatalf("cluster load: exit %d\n%s", code, errOut)
	}
	if out != "model:dev: loaded into ml-control-plane (already on ml-worker)\n" {
		t.Errorf("stdout = %q", out)
	}
	if !strings.Contains(errOut, "✓ Importing into ml-control-plane") {
		t.Errorf("stderr:\n%s", errOut)
	}
	if got := rt.Called("docker save"); len(got) != 1 {
		t.Errorf("save calls = %v", got)
	}
	code, _, errOut = c.run("-C", repo, "cluster", "load", "missing:1")
	if code != ExitInput || !strings.Contains(errOut, "image missing:1 is not in docker's image store") {
		t.Errorf("load of a missing image: exit %d\n%s", code, errOut)
	}
}

func TestClusterKubeconfigInternal(t *testing.T) {
	c := newClusterCLI(t)
	c.kindWorld()
	code, out, errOut := c.run("cluster", "kubeconfig", "ml", "--internal")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	if !strings.Contains(out, "server: https://ml-control-plane:6443") {
		t.Errorf("internal kubeconfig:\n%s", out)
	}
}

// After a reboot the cluster's containers are stopped: create starts them
// and says so; list says stopped before.
func TestClusterCreateStartsStoppedCluster(t *testing.T) {
	c := newClusterCLI(t)
	rt, _ := c.kindWorld()
	rt.Set(func(s *kindtest.State) {
		for _, ct := range s.Containers {
			ct.Status = "exited"
		}
	})
	code, out, errOut := c.run("cluster", "list")
	if code != 0 || !strings.Contains(out, "ml    kind      stopped") {
		t.Errorf("list: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = c.run("cluster", "create", "ml", "--provider", "kind")
	if code != 0 {
		t.Fatalf("create: exit %d\n%s", code, errOut)
	}
	if !strings.Contains(errOut, "✓ Starting stopped containers of kind cluster ml (ml-control-plane, ml-worker)") || !strings.HasPrefix(out, "Cluster ml is ready: kind, Kubernetes v1.37.0, 2 nodes.") {
		t.Errorf("create:\n%s\n%s", out, errOut)
	}
	if got := rt.Called("docker start"); len(got) != 1 || got[0] != "docker start ml-control-plane ml-worker" {
		t.Errorf("start calls = %v", got)
	}
}
