package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/engine"
	"github.com/envctl/envctl/internal/preview"
	"github.com/envctl/envctl/internal/ui"
)

// Exit codes of `envctl diff`, which a CI merge gate reads.
const (
	diffExitNoChanges = 0
	diffExitChanges   = 1
	diffExitError     = 2
)

// diffOptions are the inputs of `envctl diff`.
type diffOptions struct {
	envFlags
	// Policy plans the apply as if run with it.
	Policy engine.Policy
	// Flags holds the setting overrides, passed on to config.Load.
	Flags *pflag.FlagSet
	// Base, when set, makes diff a preview: the environment rendered at
	// this Git revision against the work tree (or the --git ref), offline.
	Base string
	// AllEnvironments previews every environment (with Base).
	AllEnvironments bool
}

const diffLong = `Show what applying the environment would change. Every rendered object is
sent to the cluster as a server-side apply dry-run, with the same field manager
and conflict setting as a real apply, and the result is compared with the live
object: objects to create, objects to change (with a unified diff of their
YAML, without the fields the server manages), and objects that are no longer
declared and would be pruned. Secret values are never shown: a changed key
reads "(sensitive value changed)".

With --base REF, diff needs no cluster: it renders the environment at the
Git revision REF and in the work tree (with --git: at REF and at the ref the
other flags name), both at once and offline as 'envctl render' does, and
prints per component the objects added, removed and changed, with unified
diffs and Secret values masked. -o markdown writes a pull-request comment
(a one-line summary, a collapsible section per component, and a marker line
"<!-- envctl-diff: ENV -->" that a CI job finds its earlier comment by);
-o json is for scripts and names both revisions. --all-environments
previews every environment of either side in one report.

Exit status: 0 when nothing would change, 1 when something would, 2 on an
error (bad input, an object the server rejects, an unreachable cluster, an
environment that does not render).`

const diffExample = `  # What would change in the default environment
  envctl diff

  # As a merge gate in CI: fail when the staging cluster has drifted
  envctl diff staging || echo "staging differs from the repository"

  # Machine-readable, one entry per object
  envctl diff ci -o json | jq '.[] | select(.action != "unchanged")'

  # Only two components, against a cluster of your kubeconfig
  envctl diff staging --component monitoring --component serving --context prod-eu

  # As a merge gate: what the pull request's commit would change in staging
  envctl diff staging --git https://github.com/acme/platform.git --commit "$GITHUB_SHA"

  # Without a cluster: what the work tree changes against main, per component
  envctl diff staging --base main

  # A pull-request comment covering every environment
  envctl diff --all-environments --base origin/main -o markdown > preview.md

  # Two refs of a remote repository, for a script
  envctl diff ci --git https://github.com/acme/platform.git --branch feature --base main -o json`

func newDiffCmd(f *Factory) *cobra.Command {
	o := &diffOptions{}
	cmd := &cobra.Command{
		Use:     "diff [ENV]",
		Short:   "Show what an apply would change, without changing anything",
		Long:    diffLong,
		Example: diffExample,
		Args:    argsValidator(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Flags = cmd.Flags()
			run := runDiff
			err := o.args(args)
			if err == nil && o.Base != "" {
				run, err = runPreview, preview.CheckFlags(cmd.Flags(), o.AllEnvironments, o.Env)
			} else if err == nil {
				err = preview.CheckLiveFlags(o.AllEnvironments, o.Output)
			}
			code := diffExitError
			if err == nil {
				code, err = run(cmd.Context(), f, o)
			}
			if err != nil {
				// diff's exit status is its result, so every error is 2,
				// whatever its class; the message still goes out once.
				fmt.Fprintf(f.Streams.ErrOut, "Error: %v\n", err)
				return &exitError{code: diffExitError}
			}
			if code != diffExitNoChanges {
				return &exitError{code: code}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	o.Policy.Bind(fl, map[string]string{
		engine.FlagForceConflicts: "plan the apply as taking over fields owned by other managers",
		engine.FlagForcePrune:     "plan the apply as lifting every prune guard",
		engine.FlagPruneRemoved:   "plan the apply as confirming the removal of these components",
		engine.FlagPruneEmpty:     "plan the apply as lifting the empty-render guards",
		engine.FlagPruneCRDs:      "plan the apply as lifting the CRD guard",
		engine.FlagAdopt:          "plan the apply as taking over objects labelled for another environment",
	}, engine.FlagComponent, engine.FlagForceConflicts, engine.FlagForcePrune, engine.FlagPruneRemoved, engine.FlagPruneEmpty, engine.FlagPruneCRDs, engine.FlagAdopt)
	o.bind(fl, append(outputs("text"), "markdown")...)
	fl.StringVar(&o.Base, "base", "", "preview offline: render at this Git revision (branch, tag, commit, origin/main, HEAD~1) and compare with the work tree or the --git ref; no cluster")
	fl.BoolVar(&o.AllEnvironments, "all-environments", false, "with --base: preview every environment of either side")
	config.BindFlags(fl, "apply.fieldManager", "apply.forceConflicts", "prune.enabled", "prune.maxFraction", "prune.allowNamespaces")
	return cmd
}

// runDiff computes and prints the plan and returns diff's exit code.
func runDiff(ctx context.Context, f *Factory, o *diffOptions) (int, error) {
	d, _, client, err := o.open(ctx, f, o.Flags, o.Policy.Components)
	if err != nil {
		return diffExitError, err
	}
	p, planErr := f.engine(client, d, "", "").Plan(ctx, engine.Request{Declared: d, Policy: o.Policy})
	if p == nil {
		return diffExitError, planErr
	}
	if err := ui.WritePlan(f.Streams.Out, f.Streams.ErrOut, p, o.Output, colorOut(f)); err != nil {
		return diffExitError, err
	}
	if planErr != nil {
		return diffExitError, planErr
	}
	if p.HasChanges() {
		return diffExitChanges, nil
	}
	return diffExitNoChanges, nil
}

// colorOut says whether the output stream takes colour: a terminal, and
// no --no-color.
func colorOut(f *Factory) bool {
	return f.Streams.OutTTY && !f.Global.NoColor
}
