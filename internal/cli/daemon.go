package cli

import (
	"context"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/envctl/envctl/internal/daemon"
	"github.com/envctl/envctl/internal/engine"
	"github.com/envctl/envctl/internal/lease"
)

// daemonOptions are the inputs of `envctl daemon`.
type daemonOptions struct {
	loopOptions
	Cluster clusterFlags
}

const daemonLong = `Run the continuous reconcile loop of an environment as a long-lived service,
normally inside the cluster it manages: the loop of 'envctl sync' (drift put
back within a second, kubectl edits undone, fights backed off, failures never
pruned and retried with backoff), with:

  - the cluster from the pod's service account by default (--kubeconfig and
    --context run it outside); it never creates a cluster;
  - leader election: replicas share the environment's Lease in envctl-system,
    one reconciles and the others wait; a replica that stops releases the
    Lease, so a standby takes over within seconds;
  - JSON logs (unless --log-format says otherwise);
  - /metrics, /healthz, /readyz and POST /hooks/git on --listen (:8080). The
    webhook's secret comes from ENVCTL_WEBHOOK_SECRET; /readyz answers 200 on
    a standby and on the leader once its first reconcile and watches are done.

The declared state comes from a Git repository (--git and the flags beside
it; the remote's refs are listed every --interval, 30s with 10% jitter, and
at once on a signed webhook, and a new commit is fetched, rendered and
applied), or from a local repository (-C, for tests and images that bake the
repository in), whose file changes are applied. A fetch, authentication or
render failure keeps the last good revision applied and prunes nothing.

SIGTERM stops it within 10 seconds: the object in flight finishes, the
inventory is saved, the Lease released, and it exits 0.`

const daemonExample = `  # In the cluster (what the Deployment runs): follow the main branch
  ENVCTL_GIT_PASSWORD=$TOKEN ENVCTL_WEBHOOK_SECRET=$HOOK_SECRET \
    envctl daemon staging --git https://github.com/acme/platform.git --branch main \
      --git-username envctl-bot --cache-dir /var/cache/envctl

  # From a laptop, against a cluster of the kubeconfig
  envctl daemon staging --context staging-admin --listen 127.0.0.1:8080 --log-format text

  # Install the daemon in the cluster, following a Git branch
  envctl daemon install staging --git https://github.com/acme/platform.git --branch main`

func newDaemonCmd(f *Factory) *cobra.Command {
	o := &daemonOptions{}
	cmd := &cobra.Command{
		Annotations: map[string]string{annotationStopsOnSignal: "true"},
		Use:         "daemon [ENV]",
		Short:       "Keep an environment converged from inside its cluster",
		Long:        daemonLong,
		Example:     daemonExample,
		Args:        argsValidator(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.Env = args[0]
			}
			o.Flags = cmd.Flags()
			if err := o.validate(); err != nil {
				return err
			}
			return runDaemon(cmd.Context(), f, loopLogger(cmd, f, "json"), o)
		},
	}
	o.bind(cmd.Flags(), ":8080")
	o.Cluster.bind(cmd.Flags())
	cmd.AddCommand(newDaemonInstallCmd(f))
	return cmd
}

func runDaemon(ctx context.Context, f *Factory, log *slog.Logger, o *daemonOptions) error {
	// file:// is for a person's own machine; a daemon follows a remote.
	o.Source.refuseFile = true
	d, err := o.Source.load(ctx, f, o.Env, o.Flags, nil, nil)
	if err != nil {
		return err
	}
	client, err := daemon.Connect(o.Cluster.Kubeconfig, o.Cluster.Context)
	if err != nil {
		return err
	}
	env := d.Env.Name()
	runner, serve := o.newRunner(f, "daemon", d, client, log)
	// Another repository's environment of the same name: stop before the
	// lock or the loop's record is touched.
	if err := runner.Loop.Engine.CheckOwner(ctx, engine.Request{Declared: d}); err != nil {
		return err
	}
	runner.Standby = true
	runner.Lease = lease.Options{
		Wait: lease.Forever,
		OnWait: func(holder string, since time.Time) {
			log.Info("standby: another replica leads", "environment", env, "leader", holder, "since", since)
		},
	}
	return runner.Serve(ctx, serve)
}
