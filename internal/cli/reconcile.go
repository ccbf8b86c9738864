package cli

import (
	"context"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/envctl/envctl/internal/cluster"
	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/engine"
	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/kube"
	"github.com/envctl/envctl/internal/lease"
	"github.com/envctl/envctl/internal/ui"
)

// reconcileOptions are the flags `envctl up` and `envctl apply` share.
type reconcileOptions struct {
	Env    string
	Policy engine.Policy
	Output string
	// LockTimeout is how long to wait for the environment's lock.
	LockTimeout time.Duration
	// command names the command (up, apply) in the lock's holder identity.
	command string
	// Flags holds the setting override flags, passed on to config.Load.
	Flags *pflag.FlagSet
	// Source says where the declared state comes from.
	Source sourceFlags
}

func (o *reconcileOptions) bind(fs *pflag.FlagSet) {
	o.Policy.Bind(fs, nil, engine.ReconcileFlags...)
	fs.StringVarP(&o.Output, "output", "o", "text", "summary format: text, json or yaml")
	lease.BindLockTimeout(fs, &o.LockTimeout)
	config.BindFlags(fs, "apply.concurrency", "prune.maxFraction")
	o.Source.Bind(fs)
	o.Source.BindInstance(fs)
}

// load checks the flags, takes the source's snapshot (a Git fetch shown as
// a step of progress) and loads the environment: the start that up and
// apply share.
func (o *reconcileOptions) load(ctx context.Context, f *Factory, progress cluster.Progress) (*engine.Declared, error) {
	if err := checkOutput(o.Output, outputs("text")...); err != nil {
		return nil, err
	}
	if err := o.Policy.Validate(); err != nil {
		return nil, err
	}
	if err := lease.CheckLockTimeout(o.LockTimeout); err != nil {
		return nil, err
	}
	return o.Source.load(ctx, f, o.Env, o.Flags, o.Policy.Components, progress)
}

// reconcile runs the engine's reconcile of d on target t, holding the
// environment's lock, with progress on the error stream and the summary on
// the output stream.
func reconcile(ctx context.Context, f *Factory, o *reconcileOptions, d *engine.Declared, t *cluster.Target, cl ui.ClusterInfo, progress *ui.Progress) (*engine.Result, error) {
	defer progress.Close()
	lockClient, err := kube.New(t.Config)
	if err != nil {
		return nil, errs.Cluster(err)
	}
	ctx, lock, err := lease.HoldCommand(ctx, lockClient.Clientset, d.Env.Name(), o.command, o.LockTimeout, f.Logger, f.Streams.ErrOut)
	if err != nil {
		return nil, err
	}
	defer lock.Release()
	// Count the run's requests (the lock's aside), so that the summary can
	// show that a run with nothing to do wrote nothing.
	cfg, counter := kube.CountingConfig(t.Config)
	client, err := kube.New(cfg)
	if err != nil {
		return nil, errs.Cluster(err)
	}
	res, err := f.engine(client, d, "", "").Reconcile(ctx, engine.Request{Declared: d, Policy: o.Policy, OnEvent: progress.Event})
	progress.Close()
	if res != nil {
		if werr := writeSummary(f, o.Output, res, cl, counter.Snapshot()); werr != nil && err == nil {
			err = werr
		}
	}
	return res, err
}

// writeSummary prints the summary of a run that made reqs.
func writeSummary(f *Factory, format string, res *engine.Result, cl ui.ClusterInfo, reqs kube.Snapshot) error {
	return ui.WriteSummary(f.Streams.Out, format, res, cl, ui.RequestCounts{Total: reqs.Requests, Writes: reqs.Writes})
}

// upOptions are the inputs of `envctl up`.
type upOptions struct {
	reconcileOptions
	// cluster: --kubeconfig is where the cluster's context is written;
	// --context applies to that context's cluster instead, creating none.
	cluster clusterFlags
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
  ENVCTL_GIT_PASSWORD=$TOKEN envctl up ci --git https://git.example.com/platform.git --commit "$SHA"

  # Two CI jobs on one runner: a cluster, context and inventory each
  envctl up ci --instance "$CI_JOB_ID" && envctl down ci --instance "$CI_JOB_ID" --yes

  # Write the new cluster's context to a file of its own
  envctl up ci --kubeconfig "$RUNNER_TEMP/kubeconfig"`,
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
	o.cluster.bind(cmd.Flags())
	cmd.Flags().Lookup("kubeconfig").Usage = kubeconfigWriteUsage + "; with --context, the file the context is read from"
	cmd.Flags().Lookup("context").Usage = "apply to the cluster of this existing kubeconfig context instead of the environment's own, creating none (as envctl apply does)"
	config.BindFlags(cmd.Flags(), clusterSettings...)
	return cmd
}

func runUp(ctx context.Context, f *Factory, o *upOptions) error {
	progress := newProgress(f)
	defer progress.Close()
	d, err := o.load(ctx, f, progress)
	if err != nil {
		return err
	}
	if o.cluster.Context != "" {
		return applyTo(ctx, f, &o.reconcileOptions, o.cluster, d, progress)
	}
	eo := f.ensureOptions(d, progress, o.Policy.Adopt)
	eo.Kubeconfig = o.cluster.Kubeconfig
	t, err := cluster.Ensure(ctx, d.Env.ClusterName(), d.Env.Spec.Cluster, eo)
	if err != nil {
		return err
	}
	cl := ui.ClusterInfo{Name: t.Name, Provider: t.ProviderName(), Created: t.Created, Context: t.Kubeconfig.Context, CurrentContext: t.Kubeconfig.Current}
	res, err := reconcile(ctx, f, &o.reconcileOptions, d, t, cl, progress)
	if res != nil && o.Output == "text" && cl.Context != "" {
		ui.WriteReach(f.Streams.Out, t.Kubeconfig)
	}
	return err
}

// applyOptions are the inputs of `envctl apply`.
type applyOptions struct {
	reconcileOptions
	cluster clusterFlags
}

func newApplyCmd(f *Factory) *cobra.Command {
	o := &applyOptions{}
	cmd := &cobra.Command{
		Use:   "apply [ENV]",
		Short: "Bring an existing cluster to the environment's declared state",
		Long: `Apply an environment to a cluster that already exists: render it, apply it
with server-side apply in dependency order, wait until every component is
healthy, prune what is no longer declared, and print a summary. It is
` + "`envctl up`" + ` without creating anything: the cluster is the environment's own
(which must exist), or the one --kubeconfig/--context name.

Progress goes to stderr (redrawn in place on a terminal, plain lines
otherwise); the summary goes to stdout, as JSON with -o json.

Exit codes: 0 converged, 2 bad input, 3 unhealthy, 4 timeout, 5 conflict,
6 cluster error (including a cluster that does not exist).`,
		Example: `  # Apply the staging environment to its cluster
  envctl apply staging

  # Apply to the cluster of a kubeconfig context instead
  envctl apply staging --kubeconfig ~/.kube/config --context prod-eu

  # Apply without waiting for health and without pruning
  envctl apply local --no-wait --no-prune

  # Apply the head of a release branch, signed by a release key
  envctl apply staging --git git@github.com:acme/platform.git --branch release \
    --ssh-key ~/.ssh/deploy --known-hosts ~/.ssh/known_hosts --verify-signatures release-signers`,
		Args: argsValidator(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.Env = args[0]
			}
			o.Flags = cmd.Flags()
			return runApply(cmd.Context(), f, o)
		},
	}
	o.command = "apply"
	o.bind(cmd.Flags())
	o.cluster.bind(cmd.Flags())
	return cmd
}

func runApply(ctx context.Context, f *Factory, o *applyOptions) error {
	progress := newProgress(f)
	defer progress.Close()
	d, err := o.load(ctx, f, progress)
	if err != nil {
		return err
	}
	return applyTo(ctx, f, &o.reconcileOptions, o.cluster, d, progress)
}

// applyTo reconciles d on the environment's existing cluster, or the one
// flags name.
func applyTo(ctx context.Context, f *Factory, o *reconcileOptions, flags clusterFlags, d *engine.Declared, progress *ui.Progress) error {
	t, err := cluster.Connect(ctx, d.Env, cluster.Kubeconfig{Path: flags.Kubeconfig, Context: flags.Context}, f.clusterOptions())
	if err = missingAs(err, errs.Cluster); err != nil {
		return err
	}
	cl := ui.ClusterInfo{Name: t.Name, Provider: t.ProviderName(), Context: flags.Context}
	_, err = reconcile(ctx, f, o, d, t, cl, progress)
	return err
}
