//go:build noembedded

package builtin

import (
	"context"

	"github.com/envctl/envctl/internal/cluster"
	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/errs"
)

// noEmbedded says why this build has no embedded provider; the daemon's
// image is built this way, since a daemon never creates a cluster.
const noEmbedded = "this build of envctl has no embedded control plane (it was built with -tags noembedded, as the daemon's image is); use kind or an existing cluster, or a full build of envctl"

func init() { cluster.Unavailable(config.ProviderEmbedded, noEmbedded) }

// Serve fails: there is no control plane in this build to serve.
func Serve(_ context.Context, o ServeOptions) error {
	if _, err := o.readyFile(); err != nil {
		return err
	}
	return errs.Inputf("cluster serve %s: %s", o.Name, noEmbedded)
}
