package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/render"
)

// renderOptions are the inputs of `envctl render`.
type renderOptions struct {
	// Env is the environment; "" is the default environment.
	Env string
	// Components limits the output to these components.
	Components []string
	// Output is yaml or json.
	Output string
	// OutputDir, when set, receives one file per object instead of stdout.
	OutputDir string
	// ChartCacheDir overrides where remote charts are cached.
	ChartCacheDir string
	// Flags holds the setting override flags, passed on to config.Load.
	Flags *pflag.FlagSet
	// Source says where the declared state comes from.
	Source sourceFlags
}

func newRenderCmd(f *Factory) *cobra.Command {
	o := &renderOptions{}
	cmd := &cobra.Command{
		Use:   "render [ENV]",
		Short: "Print the objects an environment declares",
		Long: `Render an environment's components, kustomize overlays built with the
kustomize API and Helm charts rendered client-side as 'helm template' does,
and print the resulting objects: the exact state 'envctl up' would apply,
ownership labels included. No cluster is needed.

The output is deterministic: the same repository always renders to the same
bytes. Components come in dependency order; within a component objects are
ordered by kind (CRDs, Namespaces, cluster-wide definitions, configuration,
workloads, webhooks) and then by namespace and name. Helm hooks follow their
component's objects, each marked with a '# Hook:' comment.

Rendering is offline: remote kustomize bases are refused unless
render.allowRemoteBases is set, chart templates get no DNS and their lookup
calls return nothing, and no file outside the repository is read. A chart
from an HTTP repository or an OCI registry is downloaded once into the chart
cache ($XDG_CACHE_HOME/envctl/charts) and read from there afterwards.

The output holds Secret data exactly as declared (like 'kustomize build');
treat it as you treat the repository. Errors and logs never show it.`,
		Example: `  # Everything the default environment declares, as YAML
  envctl render

  # One component of the ci environment, as a JSON List for scripts
  envctl render ci --component monitoring -o json | jq '.items[].metadata.name'

  # Compare what two environments declare
  diff <(envctl render local) <(envctl render staging)

  # One file per object, numbered in apply order, with progress on stderr
  envctl render staging --output-dir /tmp/staging -v

  # What a branch of the platform repository declares, without a checkout
  envctl render ci --git https://github.com/acme/platform.git --branch main`,
		Args: argsValidator(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.Env = args[0]
			}
			o.Flags = cmd.Flags()
			return runRender(cmd.Context(), f, o)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&o.Components, "component", nil, "render only this component (repeatable)")
	fl.StringVarP(&o.Output, "output", "o", "yaml", "output format: yaml or json")
	fl.StringVar(&o.OutputDir, "output-dir", "", "write one YAML file per object under this directory (which must be empty or absent) instead of printing")
	fl.StringVar(&o.ChartCacheDir, "chart-cache-dir", "", "where charts from repositories and registries are cached (default $XDG_CACHE_HOME/envctl/charts)")
	config.BindFlags(fl, "render.concurrency", "render.allowRemoteBases", "render.allowChartLookup", "render.kubeVersion")
	o.Source.bind(fl)
	return cmd
}

func runRender(ctx context.Context, f *Factory, o *renderOptions) error {
	if err := checkOutput(o.Output, "yaml", "json"); err != nil {
		return err
	}
	if o.OutputDir != "" && o.Output != "yaml" {
		return usageError(fmt.Errorf("--output-dir writes YAML files; it cannot be combined with -o %s", o.Output))
	}
	d, err := o.Source.load(ctx, f, o.Env, o.Flags, nil)
	if err != nil {
		return err
	}
	start := time.Now()
	res, err := render.Render(ctx, render.Options{
		Source:        d.snap,
		Environment:   d.env,
		Settings:      d.repo.Config.Spec.Render,
		Components:    o.Components,
		Logger:        f.Logger,
		ChartCacheDir: o.ChartCacheDir,
	})
	if err != nil {
		return err
	}
	objects, hooks := 0, 0
	for _, c := range res.Components {
		objects += len(c.Objects)
		hooks += len(c.Hooks)
	}
	f.Logger.Info("rendered environment", "components", len(res.Components), "objects", objects, "hooks", hooks,
		"revision", res.Revision, "duration", time.Since(start).Round(time.Millisecond))

	switch {
	case o.OutputDir != "":
		return render.WriteDir(o.OutputDir, res)
	case o.Output == "json":
		return render.WriteJSON(f.Streams.Out, res)
	default:
		return render.WriteYAML(f.Streams.Out, res)
	}
}
