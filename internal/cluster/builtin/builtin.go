// Package builtin links the cluster providers built into envctl: importing
// it registers existing, kind and, unless envctl is built with -tags
// noembedded (as the daemon's image is), embedded with package cluster.
// Serve runs an embedded cluster's control plane, as `envctl cluster
// serve` does.
package builtin

import (
	"log/slog"
	"os"

	_ "github.com/envctl/envctl/internal/cluster/existing"
	_ "github.com/envctl/envctl/internal/cluster/kind"
)

// ServeOptions are the inputs of Serve.
type ServeOptions struct {
	// Name is the embedded cluster's name.
	Name string
	// StateDir is envctl's state root; "" means the default.
	StateDir string
	Logger   *slog.Logger
	// Ready, when set, hears how the start goes (see embedded.ServeOptions).
	Ready *os.File
}
