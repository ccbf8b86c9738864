//go:build !noembedded

package builtin

import (
	"context"

	// Importing the embedded package is what builds the embedded provider
	// into envctl (it registers itself with package cluster). A build with
	// -tags noembedded leaves it, and the Kubernetes control plane, out.
	"github.com/envctl/envctl/internal/cluster/embedded"
)

// Serve runs the control plane of embedded cluster o.Name until ctx ends.
func Serve(ctx context.Context, o ServeOptions) error {
	ready, err := o.readyFile()
	if err != nil {
		return err
	}
	opts := embedded.ServeOptions{StateDir: o.StateDir, Name: o.Name, Logger: o.Logger}
	if ready != nil {
		opts.Ready = ready // not a nil *os.File in a non-nil interface
	}
	return embedded.Serve(ctx, opts)
}
