package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/engine"
	"github.com/envctl/envctl/internal/object"
	"github.com/envctl/envctl/internal/plan"
)

// Exit codes of `envctl diff`, which a CI merge gate reads.
const (
	diffExitNoChanges = 0
	diffExitChanges   = 1
	diffExitError     = 2
)

// diffOptions are the inputs of `envctl diff`.
type diffOptions struct {
	Env    string
	Output string
	// Policy plans the apply as if run with it.
	Policy  engine.Policy
	Cluster clusterFlags
	// Flags holds the setting overrides, passed on to config.Load.
	Flags *pflag.FlagSet
	// Source says where the declared state comes from.
	Source sourceFlags
}

func newDiffCmd(f *Factory) *cobra.Command {
	o := &diffOptions{}
	cmd := &cobra.Command{
		Use:   "diff [ENV]",
		Short: "Show what an apply would change, without changing anything",
		Long: `Show what applying the environment would change. Every rendered object is
sent to the cluster as a server-side apply dry-run, with the same field manager
and conflict setting as a real apply, and the result is compared with the live
object: objects to create, objects to change (with a unified diff of their
YAML, without the fields the server manages), and objects that are no longer
declared and would be pruned. Secret values are never shown: a changed key
reads "(sensitive value changed)".

Exit status: 0 when nothing would change, 1 when something would, 2 on an
error (bad input, an object the server rejects, an unreachable cluster).`,
		Example: `  # What would change in the default environment
  envctl diff

  # As a merge gate in CI: fail when the staging cluster has drifted
  envctl diff staging || echo "staging differs from the repository"

  # Machine-readable, one entry per object
  envctl diff ci -o json | jq '.[] | select(.action != "unchanged")'

  # Only two components, against a cluster of your kubeconfig
  envctl diff staging --component monitoring --component serving --context prod-eu

  # As a merge gate: what the pull request's commit would change in staging
  envctl diff staging --git https://github.com/acme/platform.git --commit "$GITHUB_SHA"`,
		Args: argsValidator(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.Env = args[0]
			}
			o.Flags = cmd.Flags()
			if err := checkOutput(o.Output, "text", "json"); err != nil {
				return err
			}
			code, err := runDiff(cmd.Context(), f, o)
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
	bindPolicy(fl, &o.Policy, map[string]string{
		flagForceConflicts: "plan the apply as taking over fields owned by other managers",
		flagForcePrune:     "plan the apply as lifting prune's guards",
		flagAdopt:          "plan the apply as taking over objects labelled for another environment",
	}, flagComponent, flagForceConflicts, flagForcePrune, flagAdopt)
	fl.StringVarP(&o.Output, "output", "o", "text", "output format: text or json")
	o.Cluster.bind(fl)
	config.BindFlags(fl, "apply.fieldManager", "apply.forceConflicts", "prune.enabled", "prune.maxFraction", "prune.allowNamespaces")
	o.Source.bind(fl)
	return cmd
}

// runDiff computes and prints the plan and returns diff's exit code.
func runDiff(ctx context.Context, f *Factory, o *diffOptions) (int, error) {
	d, err := o.Source.load(ctx, f, o.Env, o.Flags, o.Policy.Components, nil)
	if err != nil {
		return diffExitError, err
	}
	_, client, err := connect(ctx, f, d.Env, o.Cluster)
	if err != nil {
		return diffExitError, err
	}
	p, planErr := f.engine(client, "", "").Plan(ctx, engine.Request{Declared: d, Policy: o.Policy})
	if p == nil {
		return diffExitError, planErr
	}
	if err := printPlan(f, p, o.Output); err != nil {
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

// diffItem is one entry of `envctl diff -o json`.
type diffItem struct {
	Ref       object.Ref  `json:"ref"`
	Component string      `json:"component,omitempty"`
	Action    plan.Action `json:"action"`
	Diff      string      `json:"diff,omitempty"`
	Note      string      `json:"note,omitempty"`
	Error     string      `json:"error,omitempty"`
}

// printPlan prints the plan, and on the error stream a summary that names
// the source revision it was computed from.
func printPlan(f *Factory, p *plan.Plan, output string) error {
	for _, w := range p.Warnings {
		fmt.Fprintf(f.Streams.ErrOut, "Warning: %s\n", w)
	}
	if output == "json" {
		items := make([]diffItem, 0, len(p.Items))
		for _, it := range p.Items {
			items = append(items, diffItem{Ref: it.Ref, Component: it.Component, Action: it.Action, Diff: it.Diff, Note: it.Note, Error: it.Error})
		}
		return writeJSON(f.Streams.Out, items)
	}
	color := f.Streams.OutTTY && !f.Global.NoColor
	for _, it := range p.Items {
		writePlanItem(f.Streams.Out, it, color)
	}
	at := ""
	if p.Revision != "" {
		at = " at " + p.Revision
	}
	fmt.Fprintf(f.Streams.ErrOut, "Environment %s%s: %d to create, %d to change, %d to prune, %d unchanged",
		p.Environment, at, p.Count(plan.Create), p.Count(plan.Change), p.Count(plan.Prune), p.Count(plan.Unchanged))
	if n := p.Count(plan.Orphan); n > 0 {
		fmt.Fprintf(f.Streams.ErrOut, ", %d left in the cluster untracked", n)
	}
	if n := p.Count(plan.Held); n > 0 {
		fmt.Fprintf(f.Streams.ErrOut, ", %d held by a prune guard", n)
	}
	if n := p.Count(plan.Error); n > 0 {
		fmt.Fprintf(f.Streams.ErrOut, ", %d failed", n)
	}
	fmt.Fprintln(f.Streams.ErrOut, ".")
	return nil
}

// ANSI colours for the diff on a terminal.
const (
	ansiReset = "\x1b[0m"
	ansiBold  = "\x1b[1m"
	ansiRed   = "\x1b[31m"
	ansiGreen = "\x1b[32m"
	ansiCyan  = "\x1b[36m"
	ansiYello = "\x1b[33m"
)

// planSigils mark each action's header line, as diff tools do.
var planSigils = map[plan.Action]string{
	plan.Create: "+", plan.Change: "~", plan.Prune: "-", plan.Orphan: "!", plan.Held: "!", plan.Error: "✗", plan.Unchanged: "=",
}

func writePlanItem(w io.Writer, it plan.Item, color bool) {
	// An unchanged object is shown only when it has something to say, such
	// as fields left to a controller.
	if it.Action == plan.Unchanged && it.Note == "" {
		return
	}
	paint := func(code, s string) string {
		if !color {
			return s
		}
		return code + s + ansiReset
	}
	header := fmt.Sprintf("%s %s %s", planSigils[it.Action], it.Action, it.Ref)
	if it.Component != "" {
		header += " (component " + it.Component + ")"
	}
	switch it.Action {
	case plan.Error, plan.Prune:
		header = paint(ansiRed, header)
	case plan.Orphan, plan.Held:
		header = paint(ansiYello, header)
	default:
		header = paint(ansiBold, header)
	}
	fmt.Fprintln(w, header)
	if it.Note != "" {
		fmt.Fprintf(w, "  note: %s\n", it.Note)
	}
	if it.Error != "" {
		fmt.Fprintf(w, "  error: %s\n", it.Error)
	}
	if it.Diff == "" {
		return
	}
	for line := range strings.Lines(it.Diff) {
		switch {
		case strings.HasPrefix(line, "+++"), strings.HasPrefix(line, "---"):
			line = paint(ansiBold, strings.TrimSuffix(line, "\n")) + "\n"
		case strings.HasPrefix(line, "@@"):
			line = paint(ansiCyan, strings.TrimSuffix(line, "\n")) + "\n"
		case strings.HasPrefix(line, "+"):
			line = paint(ansiGreen, strings.TrimSuffix(line, "\n")) + "\n"
		case strings.HasPrefix(line, "-"):
			line = paint(ansiRed, strings.TrimSuffix(line, "\n")) + "\n"
		}
		io.WriteString(w, line)
	}
	// A blank line ends the object's diff, so the next header stands out.
	fmt.Fprintln(w)
}
