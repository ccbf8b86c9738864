package kind

import (
	"fmt"
	"io"
	"log/slog"
	"strconv"

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

func fmtSprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

func itoa(i int) string { return strconv.Itoa(i) }

// errString is an error that is its text.
type errString string

func (e errString) Error() string { return string(e) }
