//go:build !noembedded

package cli

import (
	"context"
	"log/slog"
	"os"

	// Importing the embedded package is what builds the embedded provider
	// into envctl (it registers itself with package cluster). A build with
	// -tags noembedded leaves it, and the Kubernetes control plane, out.
	"github.com/envctl/envctl/internal/cluster/embedded"
)

// serveEmbedded runs the control plane of embedded cluster o.Name until ctx ends.
func serveEmbedded(ctx context.Context, o *clusterServeOptions, log *slog.Logger, ready *os.File) error {
	opts := embedded.ServeOptions{StateDir: o.StateDir, Name: o.Name, Logger: log}
	if ready != nil {
		opts.Ready = ready // not a nil *os.File in a non-nil interface
	}
	return embedded.Serve(ctx, opts)
}
