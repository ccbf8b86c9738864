package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/envctl/envctl/internal/cluster"
	"github.com/envctl/envctl/internal/cluster/kubeconfig"
	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/kube"
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
	d, err := o.load(ctx, f, progress)
	if err != nil {
		progress.Close()
		return err
	}
	client, cl, err := ensureCluster(ctx, f, d.env, progress)
	if err != nil {
		progress.Close()
		return err
	}
	res, err := reconcile(ctx, f, &o.reconcileOptions, d, client, cl, progress)
	if res != nil && o.Output == "text" && cl.Context != "" {
		fmt.Fprintf(f.Streams.Out, "reach the cluster with: kubectl --context %s get pods -A\n", cl.Context)
		if hint := useContextHint(cl.written); hint != "" {
			fmt.Fprintln(f.Streams.Out, hint)
		}
	}
	return err
}

// ensureCluster makes sure the environment's cluster exists, creating it
// when it does not, writes its context into the user's kubeconfig (current
// when the kubeconfig has no current context, as cluster create does), and
// returns a client for it.
func ensureCluster(ctx context.Context, f *Factory, env *config.Environment, progress *progressView) (*kube.Client, clusterInfo, error) {
	spec := env.Spec.Cluster
	name := env.ClusterName()
	opts := cluster.Options{Logger: f.Logger}
	if spec.Existing != nil {
		opts.Existing = &cluster.ExistingTarget{Name: name, ExistingSpec: *spec.Existing}
	}
	sel, err := cluster.Select(ctx, spec.Provider, name, opts)
	if err != nil {
		return nil, clusterInfo{}, err
	}
	p := sel.Provider
	cl := clusterInfo{Name: name, Provider: p.Name()}
	if sel.Reason != "" {
		progress.Note("cluster %s: provider %s (%s)", name, p.Name(), sel.Reason)
	} else {
		progress.Note("cluster %s: provider %s", name, p.Name())
	}
	existed, err := p.Exists(ctx, name)
	if err != nil {
		return nil, cl, errs.Cluster(fmt.Errorf("cluster %s: %w", name, err))
	}
	cl.Created = !existed
	if _, err := p.Ensure(ctx, cluster.Spec{Name: name, Cluster: spec, Progress: progress}); err != nil {
		return nil, cl, fmt.Errorf("cluster %s: %w", name, err)
	}
	if cl.written, err = cluster.WriteKubeconfig(ctx, p, name, kubeconfig.WriteOptions{Current: kubeconfig.CurrentIfUnset}); err != nil {
		return nil, cl, fmt.Errorf("cluster %s: write kubeconfig: %w", name, err)
	}
	cl.Context, cl.CurrentContext = cl.written.Context, cl.written.Current
	cfg, err := p.RESTConfig(ctx, name)
	if err != nil {
		return nil, cl, fmt.Errorf("cluster %s: %w", name, err)
	}
	client, err := kube.New(cfg)
	if err != nil {
		return nil, cl, errs.Cluster(fmt.Errorf("cluster %s: %w", name, err))
	}
	return client, cl, nil
}
