package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/envctl/envctl/internal/engine"
	"github.com/envctl/envctl/internal/preview"
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

// checkPreview checks the flags of diff --base.
func (o *diffOptions) checkPreview(fs *pflag.FlagSet) error {
	var err error
	fs.Visit(func(f *pflag.Flag) {
		if err == nil && livePlanOnly(f.Name) {
			err = usageError(fmt.Errorf("--%s is for a diff against a cluster; --base previews offline, without one", f.Name))
		}
	})
	if err != nil {
		return err
	}
	if o.AllEnvironments && o.Env != "" {
		return usageError(errors.New("--all-environments previews every environment; give no ENV with it"))
	}
	return nil
}

// checkLive checks the flags of a diff against the cluster.
func (o *diffOptions) checkLive() error {
	switch {
	case o.AllEnvironments:
		return usageError(errors.New("--all-environments is for a preview: give --base REF too"))
	case o.Output == preview.FormatMarkdown:
		return usageError(errors.New("-o markdown is for a preview: give --base REF too"))
	}
	return nil
}

// runPreview renders both sides offline, prints the comparison and
// returns diff's exit code.
func runPreview(ctx context.Context, f *Factory, o *diffOptions) (int, error) {
	head, err := o.Source.open(f)
	if err != nil {
		return diffExitError, err
	}
	base, headRef, err := o.Source.Base(head, o.Base, f.Global.Repo, f.Streams.ErrOut, f.Logger)
	if err != nil {
		return diffExitError, err
	}
	if c, ok := base.(interface{ Close() error }); ok {
		defer c.Close()
	}
	rep, err := preview.Run(ctx, preview.Options{
		Base: base, Head: head, BaseRef: o.Base, HeadRef: headRef,
		Environment: o.Env, All: o.AllEnvironments, Components: o.Policy.Components,
		Load:   o.Source.loadOptions(f, head, o.Env, o.Flags, nil),
		Engine: f.engine(nil, nil, "", ""),
	})
	if err != nil {
		return diffExitError, err
	}
	if err := preview.Write(f.Streams.Out, f.Streams.ErrOut, rep, o.Output, colorOut(f)); err != nil {
		return diffExitError, err
	}
	if err := rep.Err(); err != nil {
		return diffExitError, err
	}
	if rep.Changed() {
		return diffExitChanges, nil
	}
	return diffExitNoChanges, nil
}
