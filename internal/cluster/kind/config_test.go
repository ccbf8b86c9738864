package kind

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/errs"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", path, diff)
	}
}

func TestClusterConfig(t *testing.T) {
	for _, tc := range []struct {
		golden string
		spec   *config.KindSpec
	}{
		{"default.yaml", nil},
		{"no-nodes.yaml", &config.KindSpec{NodeImage: "kindest/node:v1.37.0"}},
		{"ml-platform.yaml", &config.KindSpec{
			NodeImage: "kindest/node:v1.37.0",
			Nodes: []config.KindNode{
				{Role: "control-plane", ExtraPortMappings: []config.PortMapping{
					{ContainerPort: 30080, HostPort: 8080, ListenAddress: "127.0.0.1", Protocol: "tcp"},
					{ContainerPort: 30053, HostPort: 5353, Protocol: "UDP"},
				}},
				{Role: "worker", Labels: map[string]string{"envctl.dev/pool": "cpu"}},
				{Role: "worker", Image: "kindest/node:v1.36.1", Labels: map[string]string{"envctl.dev/pool": "gpu", "nvidia.com/gpu.present": "true"}},
			},
		}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			c, err := ClusterConfig("ml", tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			b, err := MarshalConfig(c)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tc.golden, b)
		})
	}
}

func TestClusterConfigReportsEveryProblem(t *testing.T) {
	_, err := ClusterConfig("ml", &config.KindSpec{Nodes: []config.KindNode{
		{Role: "master"},
		{Role: ""},
		{Role: "worker", ExtraPortMappings: []config.PortMapping{
			{ContainerPort: 0, HostPort: 70000, Protocol: "http", ListenAddress: "localhost"},
		}},
	}})
	if err == nil {
		t.Fatal("ClusterConfig accepted a broken spec")
	}
	if errs.KindOf(err) != errs.KindInput {
		t.Errorf("kind %v, want input", errs.KindOf(err))
	}
	want := []string{
		"kind configuration of cluster ml:",
		`spec.cluster.kind.nodes[0].role "master": want control-plane or worker`,
		"spec.cluster.kind.nodes[1].role is required",
		`spec.cluster.kind.nodes[2].extraPortMappings[0].protocol "http": want TCP, UDP or SCTP`,
		"spec.cluster.kind.nodes[2].extraPortMappings[0].containerPort 0: want 1-65535",
		"spec.cluster.kind.nodes[2].extraPortMappings[0].hostPort 70000",
		`spec.cluster.kind.nodes[2].extraPortMappings[0].listenAddress "localhost": want an IP address`,
		"spec.cluster.kind.nodes: at least one node must have role control-plane",
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not say %q:\n%v", w, err)
		}
	}
}
