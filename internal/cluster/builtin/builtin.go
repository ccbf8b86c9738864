// Package builtin links the cluster providers built into envctl: importing
// it registers existing, kind and, unless envctl is built with -tags
// noembedded (as the daemon's image is), embedded with package cluster.
// Serve runs an embedded cluster's control plane, as `envctl cluster
// serve` does.
package builtin

import (
	"fmt"
	"log/slog"
	"os"
	"syscall"

	"github.com/envctl/envctl/internal/errs"

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
	// ReadyFD is a descriptor inherited from the process that started this
	// one, told "api SERVER" and "usable" as the start progresses; 0 for
	// none.
	ReadyFD int
}

// readyFile opens ReadyFD; nil for none. A descriptor that is not one
// handed on (0 to 2, or not open) is bad input.
func (o ServeOptions) readyFile() (*os.File, error) {
	if o.ReadyFD < 0 || o.ReadyFD > 0 && o.ReadyFD < 3 {
		return nil, errs.Input(fmt.Errorf("--ready-fd %d: want a descriptor of 3 or more", o.ReadyFD))
	}
	if o.ReadyFD == 0 {
		return nil, nil
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(o.ReadyFD, &st); err != nil {
		return nil, errs.Input(fmt.Errorf("--ready-fd %d: %w", o.ReadyFD, err))
	}
	return os.NewFile(uintptr(o.ReadyFD), "ready"), nil
}
