package preview

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/envctl/envctl/internal/engine"
	"github.com/envctl/envctl/internal/errs"
)

// livePlanOnly says whether a flag of diff means nothing to an offline
// preview, which reaches no cluster and plans no apply: the cluster, the
// policy flags but --component, and the apply and prune settings.
func livePlanOnly(name string) bool {
	switch name {
	case "kubeconfig", "context", engine.FlagForceConflicts, engine.FlagForcePrune, engine.FlagAdopt:
		return true
	}
	return strings.HasPrefix(name, "apply-") || strings.HasPrefix(name, "prune-")
}

// CheckFlags checks the flags of diff --base given on the command line
// (fs): none that only a diff against a cluster takes, and no environment
// env with --all-environments (all). A mistake is bad input.
func CheckFlags(fs *pflag.FlagSet, all bool, env string) error {
	var err error
	fs.Visit(func(f *pflag.Flag) {
		if err == nil && livePlanOnly(f.Name) {
			err = errs.Input(fmt.Errorf("--%s is for a diff against a cluster; --base previews offline, without one", f.Name))
		}
	})
	if err != nil {
		return err
	}
	if all && env != "" {
		return errs.Input(errors.New("--all-environments previews every environment; give no ENV with it"))
	}
	return nil
}

// CheckLiveFlags refuses, as bad input, the preview's own flags
// (--all-environments, -o markdown) on a diff against the cluster.
func CheckLiveFlags(all bool, format string) error {
	switch {
	case all:
		return errs.Input(errors.New("--all-environments is for a preview: give --base REF too"))
	case format == FormatMarkdown:
		return errs.Input(errors.New("-o markdown is for a preview: give --base REF too"))
	}
	return nil
}
