package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/envctl/envctl/internal/cluster"
	"github.com/envctl/envctl/internal/ui"
)

// upOptions are the inputs of `envctl up`.
type upOptions struct {
	reconcileOptions
}

func newUpCmd(f *Factory) *cobra.Command {
	o := &upOptions{}
	cmd := &cobra.Command{
		Use:   "up [ENV]",
		Short: "Create the environment's cluster if needed and bring it to the declared state",
		Long: `Bring an environment up: make sure its cluster exists (creating it when it
does not), render the environment, apply it with server-side apply in
dependency order, wait until every component is healthy, prune what is no
longer declared, and print a summary and how to reach the cluster.

The cluster comes from the environment's spec.cluster. With provider auto,
envctl uses the provider that already has the cluster, else kind when a
container runtime answers, else its embedded control plane, and says which
and why. Running up again changes nothing when nothing changed: unchanged
objects are not written.

Progress goes to stderr (redrawn in place on a terminal, plain lines
otherwise); the summary goes to stdout, as JSON with -o json.

Exit codes: 0 converged, 2 bad input, 3 unhealthy, 4 timeout, 5 conflict,
6 cluster error.`,
		Example: `  # Bring up the default environment (spec.defaultEnvironment, usually local)
  envctl up

  # Bring up the CI environment and read the summary from a script
  envctl up ci -o json > summary.json

  # Apply only the model-serving component, giving it two minutes to be healthy
  envctl up local --component model-serving --timeout 2m

  # Take over fields another tool changed, and recreate objects with immutable changes
  envctl up staging --force-conflicts --force-recreate

  # In CI: the environment of the commit under test, from the Git server
  ENVCTL_GIT_PASSWORD=$TOKEN envctl up ci --git https://git.example.com/platform.git --commit "$SHA"`,
		Args: argsValidator(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.Env = args[0]
			}
			o.Flags = cmd.Flags()
			return runUp(cmd.Context(), f, o)
		},
	}
	o.command = "up"
	o.bind(cmd.Flags())
	return cmd
}

func runUp(ctx context.Context, f *Factory, o *upOptions) error {
	progress := newProgress(f)
	defer progress.Close()
	d, err := o.load(ctx, f, progress)
	if err != nil {
		return err
	}
	t, err := cluster.Ensure(ctx, d.Env.ClusterName(), d.Env.Spec.Cluster, f.clusterOptions(), progress)
	if err != nil {
		return err
	}
	cl := ui.ClusterInfo{Name: t.Name, Provider: t.ProviderName(), Created: t.Created, Context: t.Kubeconfig.Context, CurrentContext: t.Kubeconfig.Current}
	res, err := reconcile(ctx, f, &o.reconcileOptions, d, t, cl, progress)
	if res != nil && o.Output == "text" && cl.Context != "" {
		fmt.Fprintf(f.Streams.Out, "reach the cluster with: kubectl --context %s get pods -A\n", cl.Context)
		if hint := ui.UseContextHint(t.Kubeconfig); hint != "" {
			fmt.Fprintln(f.Streams.Out, hint)
		}
	}
	return err
}
