package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/envctl/envctl/internal/credential"
	"github.com/envctl/envctl/internal/daemon"
	"github.com/envctl/envctl/internal/daemon/manifests"
	"github.com/envctl/envctl/internal/engine"
	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/loop"
	"github.com/envctl/envctl/internal/notify"
	"github.com/envctl/envctl/internal/ui"
)

var daemonLong = `Run the continuous reconcile loop of an environment as a long-lived service,
normally inside the cluster it manages: the loop of 'envctl sync' (drift put
back within a second, kubectl edits undone, fights backed off, failures never
pruned and retried with backoff), with:

  - the cluster from the pod's service account by default (--kubeconfig and
    --context run it outside); it never creates a cluster;
  - leader election: replicas share the environment's Lease in envctl-env-ENV,
    one reconciles and the others wait; a replica that stops releases the
    Lease, so a standby takes over within seconds;
  - JSON logs (unless --log-format says otherwise);
  - three listeners, Flux's: /metrics on --metrics-addr (8080), the probes
    /healthz and /readyz on --health-addr (9440) and POST /hooks/git on
    --webhook-addr (9292), https with --webhook-tls-cert and --webhook-tls-key.
    In a pod they listen on every interface; elsewhere on 127.0.0.1 unless a
    flag says otherwise. The webhook's secret comes from ENVCTL_WEBHOOK_SECRET;
    /readyz answers 200 on a standby and on the leader once its first
    reconcile and watches are done;
  - Kubernetes Events on the environment's sync record and, when told, commit
    statuses and webhooks, as for sync (tokens from the Secret 'daemon
    install' writes, or ENVCTL_GITHUB_TOKEN and the like);
  - chart repository and registry credentials only from the operator: the
    ones 'daemon install' put in its Secret (--helm-credentials-file), or
    --helm-credential; a commit may name one, never choose its value or host.

The declared state comes from a Git repository (--git and the flags beside
it; the remote's refs are listed every --interval, 30s with 10% jitter, and
at once on a signed webhook, and a new commit is fetched, rendered and
applied), or from a local repository (-C, for tests and images that bake the
repository in), whose file changes are applied. A fetch, authentication or
render failure keeps the last good revision applied and prunes nothing.

SIGTERM stops it, within seconds as a rule and within ` + loop.ShutdownBudget.String() + ` at most (an
inventory save in flight is let finish): the object in flight finishes, the
inventory is saved, the Lease released, and it exits 0.`

// daemonOptions are the inputs of `envctl daemon`.
type daemonOptions struct {
	loopOptions
	Cluster clusterFlags
	// ServiceAccount (--service-account) is whom the daemon writes the
	// environment's objects as: the operator's pin, whatever the
	// environment file says.
	ServiceAccount string
}

func newDaemonCmd(f *Factory) *cobra.Command {
	o := &daemonOptions{}
	cmd := &cobra.Command{
		Annotations: map[string]string{annotationStopsOnSignal: "true"},
		Use:         "daemon [ENV]",
		Short:       "Keep an environment converged from inside its cluster",
		Long:        daemonLong,
		Example: `  # In the cluster (what the Deployment runs): follow the main branch
  ENVCTL_GIT_PASSWORD=$TOKEN ENVCTL_WEBHOOK_SECRET=$HOOK_SECRET \
    envctl daemon staging --git https://github.com/acme/platform.git --branch main \
      --git-username envctl-bot --cache-dir /var/cache/envctl

  # From a laptop, against a cluster of the kubeconfig
  envctl daemon staging --context staging-admin --log-format text

  # The same, the webhook reachable from the network over https
  envctl daemon staging --context staging-admin --webhook-addr :9292 \
    --webhook-tls-cert tls.crt --webhook-tls-key tls.key

  # Install the daemon in the cluster, following a Git branch
  envctl daemon install staging --git https://github.com/acme/platform.git --branch main`,
		Args: argsValidator(cobra.MaximumNArgs(1)),
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
	o.bindFlags(cmd.Flags())
	cmd.AddCommand(newDaemonInstallCmd(f))
	return cmd
}

func (o *daemonOptions) bindFlags(fs *pflag.FlagSet) {
	o.bind(fs, true)
	o.Cluster.bind(fs)
	fs.StringVar(&o.ServiceAccount, "service-account", "", "NAMESPACE:NAME of the service account the environment's objects are applied and pruned as (impersonated); an environment file that names another is refused")
}

func runDaemon(ctx context.Context, f *Factory, log *slog.Logger, o *daemonOptions) error {
	// file:// is for a person's own machine; a daemon follows a remote.
	o.Source.RefuseFile = true
	d, err := o.Source.load(ctx, f, o.Env, o.Flags, nil, nil)
	if err != nil {
		return err
	}
	client, err := daemon.Connect(o.Cluster.Kubeconfig, o.Cluster.Context)
	if err != nil {
		return err
	}
	notifiers, err := o.Notify.Build(o.Source.Git.URL, nil)
	if err != nil {
		return err
	}
	env := d.Env.Name()
	o.Loop.Listeners.Resolve(o.Flags, loop.DefaultListeners(loop.InPod()))
	runner, serve := o.newRunner(f, "daemon", d, client, log)
	// The service account is the operator's pin, never the file's.
	c := f.engineConfig("", "")
	c.Client, c.ServiceAccount = client, o.ServiceAccount
	runner.Loop.Engine = engine.New(c)
	defer runner.StartNotify(notifiers, &o.Notify, client, log)()
	// Another repository's environment of the same name: stop before the
	// lock or the loop's record is touched.
	if err := runner.Loop.Engine.CheckOwner(ctx, engine.Request{Declared: d}); err != nil {
		return err
	}
	runner.Standby = true
	runner.Lease = daemon.StandbyLease(env, log)
	return runner.Serve(ctx, serve)
}

// daemonInstallOptions are the inputs of `envctl daemon install`.
type daemonInstallOptions struct {
	Env string
	// Manifests takes --image, --replicas and the Git flags as they are.
	Manifests manifests.Options
	// Files are read on this machine and go into the credentials Secret.
	Files   daemon.CredentialFiles
	Notify  notify.Flags
	Timeout time.Duration
	NoWait  bool
	Output  string
	cluster clusterFlags
	// getenv reads the secret variables; os.Getenv unless a test says.
	getenv func(string) string
}

const daemonInstallLong = `Install the daemon that keeps environment ENV converged from a Git branch,
inside the environment's cluster (or the one --kubeconfig/--context name),
through the same engine as envctl apply: server-side apply, a health wait,
an inventory of its own and prune of what an earlier install left.

It makes namespace envctl-env-ENV (Pod Security "restricted"), moves ENV's
inventory, sync record and lock there from envctl-system (where an earlier
envctl kept them), and applies there: a ServiceAccount; RBAC that lets the
daemon apply and prune exactly the kinds ENV renders here and now (the
namespaced ones only in the namespaces ENV renders into), bind and escalate
only the roles ENV declares, and touch ENV's own state and no other
environment's; a Deployment of two replicas (non-root, read-only root
filesystem, ports 8080 for metrics, 9440 for the probes on /healthz and
/readyz and 9292 for the Git webhook, an emptyDir for the Git cache); a
Service for the Git webhook alone, on port 9292; a PodDisruptionBudget when
there are two replicas or more; and a Secret with the
credentials, when there are any. Run it again after ENV starts declaring a
new kind: the RBAC follows the render.

An environment with SOPS-encrypted files needs --sops-key-file: the keys
that open them go into the Secret, and the daemon decrypts with them (the
install's own render uses them too). Give the daemon keys of its own, for
the environments it runs, not a person's whole keyring. Files encrypted
with cloud KMS or Vault keys need --daemon-sops-keyservice instead (or as
well): the address of a 'sops keyservice' that holds the cloud credentials,
which the daemon asks for each data key; the install's own render asks the
key services of --sops-keyservice.

An environment whose Helm releases name chart repository or registry
credentials (helm.repoAuth.credential) needs them bound, as for any
command: --helm-credential NAME=HOST with ` + credential.EnvPrefix + `<NAME>_USERNAME
and _PASSWORD (a CA from _CA_FILE), or --helm-credentials-file. The
bindings, hosts included, go into the Secret's key helm-credentials, and
the daemon sends each credential over https to its hosts only, whatever a
commit says. A Git server with a private CA needs --ca-file.

Secrets are read from the environment or from files, never from flags:
` + daemon.EnvGitPassword + ` (or --git-password-file), ` + daemon.EnvSSHKeyPassphrase + ` for --ssh-key, and
` + daemon.EnvWebhookSecret + ` for the webhook, and the notifiers' (--github-status,
--gitlab-status, --notify-webhook, Slack): ` + notify.EnvGitHubToken + `, ` + notify.EnvGitLabToken + `,
` + notify.EnvWebhookSecret + ` and ` + notify.EnvSlackWebhook + ` (or their --*-file flags).
Their values go only into the Secret; no output shows them.

The same objects, less the Secret, are in bases/envctl for kustomize.

Exit codes: 0 installed, 2 bad input, 3 unhealthy, 4 timeout, 5 conflict,
6 cluster error.`

const daemonInstallExample = `  # Follow the main branch of a public repository
  envctl daemon install staging --git https://github.com/acme/platform.git --branch main

  # A private repository over HTTPS, with a token and a webhook secret
  ENVCTL_GIT_PASSWORD=$TOKEN ENVCTL_WEBHOOK_SECRET=$HOOK \
    envctl daemon install staging --git https://github.com/acme/platform.git \
      --branch main --git-username envctl-bot

  # An environment with SOPS-encrypted secrets: the daemon gets its own age key
  envctl daemon install staging --git https://github.com/acme/platform.git \
    --branch main --sops-key-file staging-daemon.agekey

  # SOPS files encrypted with a cloud KMS key, opened by the team's sops keyservice
  envctl daemon install staging --git https://github.com/acme/platform.git \
    --branch main --daemon-sops-keyservice tcp://sops-keyservice.sops.svc:5000

  # Charts from a private repository, and Git behind a private CA
  ENVCTL_HELM_CREDENTIAL_CHARTS_USERNAME=reader ENVCTL_HELM_CREDENTIAL_CHARTS_PASSWORD=$CHARTS_TOKEN \
    envctl daemon install staging --git https://git.corp.example/platform.git --branch main \
      --ca-file corp-ca.pem --helm-credential charts=charts.corp.example

  # Over SSH, in the cluster of another kubeconfig context
  envctl daemon install prod --git git@github.com:acme/platform.git --tag v1.4.0 \
    --ssh-key ~/.ssh/envctl --known-hosts ~/.ssh/known_hosts --context prod-admin`

// newDaemonInstallCmd is `envctl daemon install ENV`.
func newDaemonInstallCmd(f *Factory) *cobra.Command {
	o := &daemonInstallOptions{getenv: os.Getenv}
	cmd := &cobra.Command{
		Use:     "install ENV --git URL",
		Short:   "Install envctl's daemon in the environment's cluster",
		Long:    daemonInstallLong,
		Example: daemonInstallExample,
		Args:    argsValidator(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Env = args[0]
			return runDaemonInstall(cmd.Context(), f, o)
		},
	}
	fl := cmd.Flags()
	daemon.BindInstallGitFlags(fl, &o.Manifests, &o.Files)
	fl.StringVar(&o.Manifests.ServiceAccount, "service-account", "", "NAMESPACE:NAME of a service account the daemon applies and prunes the environment's objects as (impersonated, as Flux's serviceAccountName); the daemon then holds no grant on the environment's kinds, only impersonate on that account")
	fl.StringVar(&o.Manifests.Image, "image", "", "container image of the daemon (default: "+manifests.DefaultImage(version)+")")
	fl.Int32Var(&o.Manifests.Replicas, "replicas", manifests.DefaultReplicas, "daemons to run; one leads, the others stand by")
	fl.DurationVar(&o.Timeout, "timeout", 0, "time the daemon has to become healthy (default: apply.timeout)")
	fl.BoolVar(&o.NoWait, "no-wait", false, "do not wait for the daemon to become healthy")
	fl.StringVarP(&o.Output, "output", "o", "text", "summary format: text, json or yaml")
	o.Notify.Bind(fl)
	o.cluster.bind(fl)
	return cmd
}

func runDaemonInstall(ctx context.Context, f *Factory, o *daemonInstallOptions) error {
	if err := checkOutput(o.Output, outputs("text")...); err != nil {
		return err
	}
	if err := daemon.PrepareManifests(&o.Manifests, o.Timeout, o.Files, &o.Notify, f.Credentials, o.getenv, version); err != nil {
		return err
	}
	var src sourceFlags
	d, err := src.load(ctx, f, o.Env, nil, nil, nil)
	if err != nil {
		return err
	}
	env := d.Env.Name()
	// Check the flags before reaching for the cluster.
	if err := daemon.CheckManifests(env, o.Manifests); err != nil {
		return err
	}
	t, client, err := connect(ctx, f, d.Env, o.cluster)
	if err = missingAs(err, errs.Cluster); err != nil {
		return err
	}
	progress := newProgress(f)
	defer progress.Close()
	in := &daemon.Install{
		Declared: d, Target: t, Client: client,
		Engine:    f.engineConfig("", o.Files.SOPSKeyFile),
		Manifests: o.Manifests,
		Policy:    engine.Policy{NoWait: o.NoWait, Timeout: o.Timeout},
		Progress:  progress, OnEvent: progress.Event,
	}
	done, err := in.Run(ctx)
	progress.Close()
	if done == nil {
		return err
	}
	cl := ui.ClusterInfo{Name: t.Name, Provider: t.ProviderName(), Context: o.cluster.Context}
	if werr := writeSummary(f, o.Output, done.Result, cl, done.Requests); werr != nil && err == nil {
		err = werr
	}
	if err == nil && o.Output == "text" {
		fmt.Fprintf(f.Streams.Out, "daemon %s/%s follows %s; it may apply and prune %d kinds of environment %s\n",
			manifests.Namespace(env), manifests.Name(env), daemon.Following(o.Manifests.Git), done.Kinds, env)
	}
	return err
}
