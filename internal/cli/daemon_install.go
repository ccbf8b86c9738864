package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/envctl/envctl/internal/cluster"
	"github.com/envctl/envctl/internal/daemon"
	"github.com/envctl/envctl/internal/daemon/manifests"
	"github.com/envctl/envctl/internal/engine"
	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/ui"
)

// daemonInstallOptions are the inputs of `envctl daemon install`.
type daemonInstallOptions struct {
	Env string
	Git manifests.Git
	// Files are read on this machine and go into the credentials Secret.
	Files    daemon.CredentialFiles
	Image    string
	Replicas int32
	Timeout  time.Duration
	NoWait   bool
	Output   string
	cluster  clusterFlags
	// getenv reads the secret variables; os.Getenv unless a test says.
	getenv func(string) string
}

// bindGitFlags binds the daemon's Git flags. They are plain strings here,
// passed through to the daemon's arguments as given.
func (o *daemonInstallOptions) bindGitFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Git.URL, "git", "", "URL of the Git repository the daemon follows (https://, ssh:// or user@host:path)")
	fs.StringVar(&o.Git.Branch, "branch", "", "branch to follow")
	fs.StringVar(&o.Git.Tag, "tag", "", "tag to follow")
	fs.StringVar(&o.Git.SemVer, "semver", "", "follow the highest tag within this semver range")
	fs.StringVar(&o.Git.Commit, "commit", "", "stay at this commit")
	fs.StringVar(&o.Git.Path, "path", "", "directory of the repository that holds config.yaml")
	fs.StringVar(&o.Git.Username, "git-username", "", "user name for HTTPS; the password comes from "+daemon.EnvGitPassword+" or --git-password-file")
	fs.StringVar(&o.Files.PasswordFile, "git-password-file", "", "file holding the HTTPS password or token, stored in the daemon's Secret")
	fs.StringVar(&o.Files.SSHKeyFile, "ssh-key", "", "SSH private key file, stored in the daemon's Secret; its passphrase comes from "+daemon.EnvSSHKeyPassphrase)
	fs.StringVar(&o.Files.KnownHostsFile, "known-hosts", "", "known_hosts file that vouches for the SSH server's key")
	fs.StringVar(&o.Files.SOPSKeyFile, "sops-key-file", "", "file of age identities or OpenPGP private keys that open the environment's SOPS files, stored in the daemon's Secret")
}

const daemonInstallLong = `Install the daemon that keeps environment ENV converged from a Git branch,
inside the environment's cluster (or the one --kubeconfig/--context name),
through the same engine as envctl apply: server-side apply, a health wait,
an inventory of its own and prune of what an earlier install left.

It applies, in namespace ` + manifests.Namespace + `: a ServiceAccount; RBAC that lets the
daemon apply and prune exactly the kinds ENV renders here and now, plus
leases, events and the inventories envctl keeps in ` + manifests.Namespace + `; a Deployment of
two replicas (non-root, read-only root filesystem, probes on /healthz and
/readyz, an emptyDir for the Git cache); a Service for metrics and the Git
webhook on port 8080; a PodDisruptionBudget; and a Secret with the
credentials, when there are any. Run it again after ENV starts declaring a
new kind: the RBAC follows the render.

An environment with SOPS-encrypted files needs --sops-key-file: the keys
that open them go into the Secret, and the daemon decrypts with them (the
install's own render uses them too). Give the daemon keys of its own, for
the environments it runs, not a person's whole keyring.

Secrets are read from the environment or from files, never from flags:
` + daemon.EnvGitPassword + ` (or --git-password-file), ` + daemon.EnvSSHKeyPassphrase + ` for --ssh-key, and
` + daemon.EnvWebhookSecret + ` for the webhook. Their values go only into the Secret; no
output shows them.

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
	o.bindGitFlags(fl)
	fl.StringVar(&o.Image, "image", "", "container image of the daemon (default: "+manifests.DefaultImage(version)+")")
	fl.Int32Var(&o.Replicas, "replicas", manifests.DefaultReplicas, "daemons to run; one leads, the others stand by")
	fl.DurationVar(&o.Timeout, "timeout", 0, "time the daemon has to become healthy (default: apply.timeout)")
	fl.BoolVar(&o.NoWait, "no-wait", false, "do not wait for the daemon to become healthy")
	fl.StringVarP(&o.Output, "output", "o", "text", "summary format: text or json")
	o.cluster.bind(fl)
	return cmd
}

func runDaemonInstall(ctx context.Context, f *Factory, o *daemonInstallOptions) error {
	if err := checkOutput(o.Output, "text", "json"); err != nil {
		return err
	}
	if o.Timeout < 0 {
		return usageError(fmt.Errorf("--timeout must not be negative, got %s", o.Timeout))
	}
	if o.Replicas < 1 {
		return usageError(fmt.Errorf("--replicas %d: want 1 or more", o.Replicas))
	}
	creds, err := daemon.ReadCredentials(o.Files, o.Git.Username, o.getenv)
	if err != nil {
		return err
	}
	var src sourceFlags
	d, err := src.load(ctx, f, o.Env, nil, nil, nil)
	if err != nil {
		return err
	}
	env := d.Env.Name()
	// Check the flags before reaching for the cluster.
	if _, err := manifests.Build(manifests.Options{Environment: env, Git: o.Git, Replicas: o.Replicas, Credentials: creds}); err != nil {
		return err
	}
	t, client, err := connect(ctx, f, d.Env, o.cluster)
	var missing *cluster.MissingError
	if errors.As(err, &missing) {
		return errs.Cluster(err)
	}
	if err != nil {
		return err
	}
	progress := newProgress(f)
	defer progress.Close()
	in := &daemon.Install{
		Declared: d, Target: t, Client: client,
		Engine:    f.engineConfig("", o.Files.SOPSKeyFile),
		Manifests: manifests.Options{Image: o.Image, Version: version, Replicas: o.Replicas, Git: o.Git, Credentials: creds},
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
			manifests.Namespace, manifests.Name(env), daemon.Following(o.Git), done.Kinds, env)
	}
	return err
}
