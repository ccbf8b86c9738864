package cli

import (
	"context"

	"github.com/envctl/envctl/internal/preview"
)

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
