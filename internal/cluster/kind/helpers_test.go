package kind

import (
	"io"
	"log/slog"

	kindexec "sigs.k8s.io/kind/pkg/exec"

	"github.com/envctl/envctl/internal/config"
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func configWithRole(role string) config.ClusterSpec {
	return config.ClusterSpec{Kind: &config.KindSpec{Nodes: []config.KindNode{{Role: role}}}}
}

// runDocker runs the docker on PATH the way kind does, for errors that
// carry a command's output.
func runDocker() error {
	return kindexec.Command("docker", "run", "x").Run()
}
