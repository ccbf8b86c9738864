package cli

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/envctl/envctl/internal/cluster"
	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/engine"
	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/kube"
	"github.com/envctl/envctl/internal/lease"
	"github.com/envctl/envctl/internal/loop"
	"github.com/envctl/envctl/internal/notify"
	"github.com/envctl/envctl/internal/ui"
)

// syncOptions are the inputs of `envctl sync`.
type syncOptions struct {
	loopOptions
	LockTimeout time.Duration
	// cluster as up takes it: --kubeconfig where the context is written,
	// --context an existing cluster to keep converged instead.
	cluster clusterFlags
}

const syncLong = `Keep an environment converged in the foreground, on a laptop or in CI: make
sure its cluster exists (as up does), reconcile, then watch and put things
back until Ctrl-C or SIGTERM.

While it runs, sync:
  - renders and applies again when files of the repository change (a burst of
    changes is applied once, after 300ms of quiet), or, with --git, lists the
    remote's refs every --interval (30s, with 10% jitter) and at once on a
    signed POST /hooks/git, and applies a new commit;
  - watches every object it applied and puts back, within a second, one that
    is deleted, loses its labels, or has a field it declares changed, and
    undoes edits made with kubectl (edit, set, scale, patch, label), including
    an env var added to a container; objects annotated envctl.dev/drift: ignore
    and fields it does not declare (an autoscaler's replicas) are left alone;
  - backs off from an object another controller keeps changing and counts the
    fight;
  - never prunes after a failed fetch, render or apply, keeps what was applied
    last, and retries with backoff (a revision that does not render waits
    for the next commit or 'envctl reconcile');
  - records Kubernetes Events on the sync record envctl-sync-ENV (reconciled,
    failed, drift corrected, fights, prune held) and, when told, sets GitHub
    or GitLab commit statuses and posts signed JSON or Slack webhooks
    (--github-status, --gitlab-status, --notify-webhook, ENVCTL_SLACK_WEBHOOK_URL).

sync holds the environment's lock (a Lease next to its inventory) while it runs: an
up, apply or down of the same environment waits for it, and sync waits
--lock-timeout for one that holds it. It records its status in the cluster,
so 'envctl status' shows it; 'envctl reconcile', 'suspend' and 'resume' talk to
it. With --listen it serves /metrics, /healthz, /readyz and POST /hooks/git on
one address; --metrics-addr, --health-addr and --webhook-addr serve each on
its own.

It exits 0 when stopped by a signal, after saving the inventory and releasing
the lock (within 10 seconds).`

const syncExample = `  # Keep the local environment converged while you edit its overlays
  envctl sync

  # Report drift only, and serve metrics on localhost
  envctl sync staging --drift detect --listen 127.0.0.1:8080

  # Follow a branch instead of the local files
  envctl sync staging --git https://github.com/acme/platform.git --branch main --interval 1m

  # Wait up to ten minutes for a CI job's up to release the environment
  envctl sync ci --lock-timeout 10m`

func newSyncCmd(f *Factory) *cobra.Command {
	o := &syncOptions{}
	cmd := &cobra.Command{
		Annotations: map[string]string{annotationStopsOnSignal: "true"},
		Use:         "sync [ENV]",
		Short:       "Bring the environment up, then keep it converged until interrupted",
		Long:        syncLong,
		Example:     syncExample,
		Args:        argsValidator(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.Env = args[0]
			}
			o.Flags = cmd.Flags()
			if err := o.validate(); err != nil {
				return err
			}
			if o.LockTimeout < 0 {
				return usageError(fmt.Errorf("--lock-timeout must not be negative, got %s", o.LockTimeout))
			}
			return runSync(cmd.Context(), f, loopLogger(cmd, f, "text"), o)
		},
	}
	o.bind(cmd.Flags(), false)
	o.Source.BindInstance(cmd.Flags())
	o.cluster.bind(cmd.Flags())
	cmd.Flags().Lookup("kubeconfig").Usage = kubeconfigWriteUsage + "; with --context, the file the context is read from"
	cmd.Flags().Lookup("context").Usage = "keep the cluster of this existing kubeconfig context converged instead of the environment's own, creating none"
	config.BindFlags(cmd.Flags(), clusterSettings...)
	cmd.Flags().DurationVar(&o.LockTimeout, "lock-timeout", 2*time.Minute, "how long to wait for another writer (up, apply, down, sync) of the environment to finish")
	return cmd
}

// syncTarget is the cluster sync keeps converged: the environment's own,
// created when missing, or the one --context names.
func syncTarget(ctx context.Context, f *Factory, o *syncOptions, d *engine.Declared, progress cluster.Progress) (*cluster.Target, error) {
	if o.cluster.Context != "" {
		t, err := cluster.Connect(ctx, d.Env, cluster.Kubeconfig{Path: o.cluster.Kubeconfig, Context: o.cluster.Context}, f.clusterOptions())
		return t, missingAs(err, errs.Cluster)
	}
	eo := f.ensureOptions(d, progress, false)
	eo.Kubeconfig = o.cluster.Kubeconfig
	return cluster.Ensure(ctx, d.Env.ClusterName(), d.Env.Spec.Cluster, eo)
}

func runSync(ctx context.Context, f *Factory, log *slog.Logger, o *syncOptions) error {
	progress := newProgress(f)
	d, err := o.Source.load(ctx, f, o.Env, o.Flags, nil, progress)
	if err != nil {
		progress.Close()
		return err
	}
	env := d.Env.Name()
	notifiers, err := o.Notify.Build(o.Source.Git.URL, nil)
	if err != nil {
		progress.Close()
		return err
	}
	t, err := syncTarget(ctx, f, o, d, progress)
	progress.Close()
	if err != nil {
		return err
	}
	client, err := kube.New(t.Config)
	if err != nil {
		return errs.Cluster(err)
	}
	runner, serve := o.newRunner(f, "sync", d, client, log)
	defer runner.StartNotify(notifiers, &o.Notify, client, log)()
	// Another repository's environment of the same name: stop before the
	// lock or the loop's record is touched.
	if err := runner.Loop.Engine.CheckOwner(ctx, engine.Request{Declared: d}); err != nil {
		return err
	}
	runner.Lease = lease.Options{
		Wait: o.LockTimeout,
		OnWait: func(holder string, since time.Time) {
			fmt.Fprintf(f.Streams.ErrOut, "waiting for %s, who holds environment %s since %s (--lock-timeout %s)\n",
				ui.HolderName(holder), env, since.Local().Format(time.DateTime), o.LockTimeout)
		},
	}
	log.Info("syncing; stop with Ctrl-C", "environment", env, "source", d.Source.String(), "revision", d.Revision())
	return runner.Serve(ctx, serve)
}

// loopOptions are the flags `envctl sync` and `envctl daemon` share.
type loopOptions struct {
	Env string
	// Loop are the loop's own flags.
	Loop loop.Flags
	// Policy of the loop's full reconciles.
	Policy engine.Policy
	// Flags holds the setting override flags, passed on to config.Load.
	Flags *pflag.FlagSet
	// Source says where the declared state comes from: the local
	// repository, watched for file changes, or --git, polled.
	Source sourceFlags
	// Notify are the Kubernetes Events and notifiers of the loop.
	Notify notify.Flags
}

func (o *loopOptions) bind(fs *pflag.FlagSet, listenDefaults bool) {
	o.Loop.Bind(fs, listenDefaults)
	o.Policy.Bind(fs, map[string]string{
		engine.FlagForceConflicts: "take over fields owned by other field managers on full reconciles in --drift detect or off (with correct, every apply does)",
	}, engine.FlagTimeout, engine.FlagNoPrune, engine.FlagForceConflicts, engine.FlagForceRecreate)
	config.BindFlags(fs, "apply.concurrency")
	o.Source.Bind(fs)
	o.Notify.Bind(fs)
}

func (o *loopOptions) validate() error {
	if err := o.Loop.Validate(); err != nil {
		return err
	}
	return o.Policy.Validate()
}

// newRunner assembles the loop of d's environment on client (see
// loop.Flags.NewRunner).
func (o *loopOptions) newRunner(f *Factory, mode string, d *engine.Declared, client *kube.Client, log *slog.Logger) (*loop.Runner, loop.ServeOptions) {
	env := d.Env.Name()
	load := o.Source.loadOptions(f, d.Source, env, o.Flags, nil)
	return o.Loop.NewRunner(mode, env, d.Source, load, f.engine(client, d, "", ""), o.Policy, log)
}

// loopLogger is the logger of a long-running loop: the global flags'
// format (format when --log-format was not given), at info level at least,
// since the loop's log is its progress. klog and the standard logger are
// routed into it as for every command.
func loopLogger(cmd *cobra.Command, f *Factory, format string) *slog.Logger {
	if cmd.Root().PersistentFlags().Changed("log-format") {
		format = f.Global.LogFormat
	}
	logger := ui.NewLogger(f.Streams.ErrOut, max(f.Global.Verbosity, 1), format)
	useLogger(f, logger)
	return logger
}
