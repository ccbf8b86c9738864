package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/engine"
	"github.com/envctl/envctl/internal/kube"
	"github.com/envctl/envctl/internal/render"
	"github.com/envctl/envctl/internal/ui"
)

// renderOptions are the inputs of `envctl render`.
type renderOptions struct {
	// envFlags: ENV ("" is the default environment), -o (yaml or json),
	// the source, and a cluster to render for, as up would.
	envFlags
	// Policy: the components to render.
	Policy engine.Policy
	// OutputDir, when set, receives one file per object instead of stdout.
	OutputDir string
	// ChartCacheDir overrides where remote charts are cached.
	ChartCacheDir string
	// Graph prints the apply order and why each component waits for
	// another, instead of the objects.
	Graph bool
	// ShowSecrets prints the data of Secrets decrypted from SOPS files
	// instead of masking it.
	ShowSecrets bool
	// Flags holds the setting override flags, passed on to config.Load.
	Flags *pflag.FlagSet
}

const renderLong = `Render an environment's components, kustomize overlays built with the
kustomize API and Helm charts rendered client-side as 'helm template' does,
and print the resulting objects: the exact state 'envctl up' would apply,
ownership labels included. No cluster is needed.

The output is deterministic: the same repository always renders to the same
bytes. Components come in dependency order; within a component objects are
ordered by kind (CRDs, Namespaces, cluster-wide definitions, configuration,
workloads, webhooks) and then by namespace and name. Helm hooks follow their
component's objects, each marked with a '# Hook:' comment.

The order of components follows dependsOn and what the objects themselves
need: a component whose objects are of a kind that another component's CRD
defines, or live in a namespace that another component declares, comes after
it without a dependsOn line. --graph shows that order with the reason for
each edge.

Charts are rendered for the cluster the environment gets: the embedded
control plane's Kubernetes version, or the kind node image's, or
render.kubeVersion; 'envctl up', 'apply' and 'diff' ask the cluster itself,
and so does render with --kubeconfig or --context, which then prints exactly
what up would apply there. The CRDs the environment declares count as served
API versions.

Rendering is offline: remote kustomize bases are refused unless
render.allowRemoteBases is set, chart templates get no DNS and their lookup
calls return nothing, and no file outside the repository is read. A chart
from an HTTP repository or an OCI registry is downloaded once into the chart
cache ($XDG_CACHE_HOME/envctl/charts) and read from there afterwards.

The output holds Secret data exactly as declared (like 'kustomize build');
treat it as you treat the repository. Errors and logs never show it. Secrets
decrypted from SOPS files (components with decryption: {provider: sops})
are the exception: their data is masked unless --show-secrets is given.
SOPS files are decrypted in memory with the age identities or OpenPGP keys
of --decryption-key-file, $SOPS_AGE_KEY_FILE and $SOPS_AGE_KEY, then with
the age keys sops itself finds ($SOPS_AGE_KEY_CMD, ~/.config/sops/age/keys.txt,
SSH keys), then through the sops key services of --sops-keyservice.`

const renderExample = `  # Everything the default environment declares, as YAML
  envctl render

  # One component of the ci environment, as a JSON List for scripts
  envctl render ci --component monitoring -o json | jq '.items[].metadata.name'

  # Compare what two environments declare
  diff <(envctl render local) <(envctl render staging)

  # One file per object, numbered in apply order, with progress on stderr
  envctl render staging --output-dir /tmp/staging -v

  # What a branch of the platform repository declares, without a checkout
  envctl render ci --git https://github.com/acme/platform.git --branch main

  # The order components apply in, and why each waits for another
  envctl render --graph

  # What up would apply to the staging cluster (its API versions, its releases)
  envctl render staging --context staging-admin`

func newRenderCmd(f *Factory) *cobra.Command {
	o := &renderOptions{}
	cmd := &cobra.Command{
		Use:     "render [ENV]",
		Short:   "Print the objects an environment declares",
		Long:    renderLong,
		Example: renderExample,
		Args:    argsValidator(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Flags = cmd.Flags()
			if err := o.args(args); err != nil {
				return err
			}
			return runRender(cmd.Context(), f, o)
		},
	}
	fl := cmd.Flags()
	o.Policy.Bind(fl, map[string]string{engine.FlagComponent: "render only these components (repeat or comma-separate)"}, engine.FlagComponent)
	o.bind(fl, "yaml", "json")
	fl.StringVar(&o.OutputDir, "output-dir", "", "write one YAML file per object under this directory (which must be empty or absent) instead of printing")
	fl.BoolVar(&o.ShowSecrets, "show-secrets", false, "print the data of Secrets decrypted from SOPS files instead of masking it")
	fl.BoolVar(&o.Graph, "graph", false, "print the order components apply in and why each waits for another, instead of the objects")
	fl.StringVar(&o.ChartCacheDir, "chart-cache-dir", "", "where charts from repositories and registries are cached (default $XDG_CACHE_HOME/envctl/charts)")
	config.BindFlags(fl, "render.concurrency", "render.allowRemoteBases", "render.allowChartLookup", "render.kubeVersion")
	fl.Lookup("kubeconfig").Usage = "render for the cluster of this kubeconfig file, as up would: its version and API versions, releases it holds as upgrades"
	fl.Lookup("context").Usage = "render for the cluster of this kubeconfig context (with or without --kubeconfig), as up would"
	return cmd
}

func runRender(ctx context.Context, f *Factory, o *renderOptions) error {
	if o.Graph && o.OutputDir != "" {
		return usageError(fmt.Errorf("--graph prints the order; it cannot be combined with --output-dir"))
	}
	if o.OutputDir != "" && o.Output != "yaml" {
		return usageError(fmt.Errorf("--output-dir writes YAML files; it cannot be combined with -o %s", o.Output))
	}
	d, err := o.Source.load(ctx, f, o.Env, o.Flags, o.Policy.Components, nil)
	if err != nil {
		return err
	}
	start := time.Now()
	// Offline, charts render for the cluster the environment would get.
	var client *kube.Client
	if o.Cluster.set() {
		if _, client, err = connect(ctx, f, d.Env, o.Cluster); err != nil {
			return err
		}
	}
	r, err := f.engine(client, d, o.ChartCacheDir, "").Render(ctx, engine.Request{Declared: d, Policy: o.Policy})
	if err != nil {
		return err
	}
	res := r.Result
	ui.LogRendered(f.Logger, res, time.Since(start))
	if !o.ShowSecrets {
		res = res.Masked()
	}
	switch {
	case o.Graph:
		return ui.WriteGraph(f.Streams.Out, o.Output, res)
	case o.OutputDir != "":
		return render.WriteDir(o.OutputDir, res)
	}
	return ui.WriteObjects(f.Streams.Out, o.Output, res)
}
