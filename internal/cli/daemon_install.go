package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/envctl/envctl/internal/cluster"
	"github.com/envctl/envctl/internal/daemon/manifests"
	"github.com/envctl/envctl/internal/engine"
	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/kube"
	"github.com/envctl/envctl/internal/render"
)

// Environment variables `daemon install` reads secrets from, so that they
// never sit in a command line or a shell history.
const (
	envWebhookSecret = "ENVCTL_WEBHOOK_SECRET"
)

// daemonInstallOptions are the inputs of `envctl daemon install`.
type daemonInstallOptions struct {
	Env string
	Git manifests.Git
	// PasswordFile, SSHKeyFile and KnownHostsFile are read on this
	// machine and go into the credentials Secret.
	PasswordFile   string
	SSHKeyFile     string
	KnownHostsFile string
	// SOPSKeyFile holds the keys the daemon decrypts the environment's
	// SOPS files with; they go into the credentials Secret too.
	SOPSKeyFile string
	Image       string
	Replicas    int32
	Timeout     time.Duration
	NoWait      bool
	Output      string
	cluster     clusterFlags
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
	fs.StringVar(&o.Git.Username, "git-username", "", "user name for HTTPS; the password comes from "+envGitPassword+" or --git-password-file")
	fs.StringVar(&o.PasswordFile, "git-password-file", "", "file holding the HTTPS password or token, stored in the daemon's Secret")
	fs.StringVar(&o.SSHKeyFile, "ssh-key", "", "SSH private key file, stored in the daemon's Secret; its passphrase comes from "+envSSHKeyPassphrase)
	fs.StringVar(&o.KnownHostsFile, "known-hosts", "", "known_hosts file that vouches for the SSH server's key")
	fs.StringVar(&o.SOPSKeyFile, "sops-key-file", "", "file of age identities or OpenPGP private keys that open the environment's SOPS files, stored in the daemon's Secret")
}

// newDaemonInstallCmd is `envctl daemon install ENV`.
func newDaemonInstallCmd(f *Factory) *cobra.Command {
	o := &daemonInstallOptions{getenv: os.Getenv}
	cmd := &cobra.Command{
		Use:   "install ENV --git URL",
		Short: "Install envctl's daemon in the environment's cluster",
		Long: `Install the daemon that keeps environment ENV converged from a Git branch,
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
` + envGitPassword + ` (or --git-password-file), ` + envSSHKeyPassphrase + ` for --ssh-key, and
` + envWebhookSecret + ` for the webhook. Their values go only into the Secret; no
output shows them.

The same objects, less the Secret, are in bases/envctl for kustomize.

Exit codes: 0 installed, 2 bad input, 3 unhealthy, 4 timeout, 5 conflict,
6 cluster error.`,
		Example: `  # Follow the main branch of a public repository
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
    --ssh-key ~/.ssh/envctl --known-hosts ~/.ssh/known_hosts --context prod-admin`,
		Args: argsValidator(cobra.ExactArgs(1)),
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
	creds, err := o.credentials()
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

	// The daemon's RBAC follows what the environment renders here and now,
	// with the keys the daemon gets.
	done := progress.Step(fmt.Sprintf("Rendering environment %s for the daemon's RBAC", env))
	eng := f.engine(client, "", o.SOPSKeyFile)
	rendered, err := eng.Render(ctx, engine.Request{Declared: d})
	if err == nil && o.SOPSKeyFile == "" {
		err = needsSOPSKeys(rendered.Result)
	}
	var resources []manifests.Resource
	if err == nil {
		resources, err = manifests.ResourcesOf(ctx, rendered.Result, client.Mapper)
	}
	done(err)
	if err != nil {
		return fmt.Errorf("daemon install %s: %w", env, err)
	}
	objs, err := manifests.Build(manifests.Options{
		Environment: env,
		Image:       o.Image,
		Version:     version,
		Replicas:    o.Replicas,
		Git:         o.Git,
		Credentials: creds,
		Resources:   resources,
	})
	if err != nil {
		return err
	}
	// Namespace envctl-system is every environment's: it holds their
	// inventories, locks and daemons. It is made if missing, never owned
	// by one daemon's install (which would keep a second environment's
	// daemon out of it, and take it along on a prune).
	objs = slices.DeleteFunc(objs, func(obj *unstructured.Unstructured) bool {
		return obj.GetKind() == "Namespace" && obj.GetName() == inventory.Namespace
	})
	if err := inventory.EnsureNamespace(ctx, client.Clientset, inventory.Namespace); err != nil {
		return err
	}

	// Counted, so that the summary shows that a second install writes nothing.
	cfg, counter := kube.CountingConfig(t.Config)
	counted, err := kube.New(cfg)
	if err != nil {
		return errs.Cluster(err)
	}
	res, err := f.engine(counted, "", o.SOPSKeyFile).Install(ctx,
		engine.Request{Declared: d, Policy: engine.Policy{NoWait: o.NoWait, Timeout: o.Timeout}, OnEvent: progress.Event},
		engine.Installation{Environment: manifests.Name(env), Component: "daemon", Revision: "envctl " + version, Objects: objs})
	progress.Close()
	if res != nil {
		cl := clusterInfo{Name: t.Name, Provider: t.ProviderName(), Context: o.cluster.Context}
		reqs := counter.Snapshot()
		if werr := writeSummary(f.Streams.Out, o.Output, res, cl, requestCounts{Total: reqs.Requests, Writes: reqs.Writes}); werr != nil && err == nil {
			err = werr
		}
	}
	if err == nil && res != nil && o.Output == "text" {
		fmt.Fprintf(f.Streams.Out, "daemon %s/%s follows %s; it may apply and prune %d kinds of environment %s\n",
			manifests.Namespace, manifests.Name(env), gitTarget(o.Git), len(resources), env)
	}
	return err
}

// credentials gathers the secrets from the environment and the files the
// flags name. Every problem is bad input naming the variable or file.
func (o *daemonInstallOptions) credentials() (manifests.Credentials, error) {
	var c manifests.Credentials
	var problems []error
	password := o.getenv(envGitPassword)
	switch {
	case password != "" && o.PasswordFile != "":
		problems = append(problems, fmt.Errorf("%s and --git-password-file both give the Git password; give one", envGitPassword))
	case o.PasswordFile != "":
		data, err := readSecretFile("--git-password-file", o.PasswordFile)
		if err != nil {
			problems = append(problems, err)
		}
		// A password file written by echo ends in a newline that is not
		// part of the password.
		c.GitPassword = bytes.TrimRight(data, "\r\n")
		if err == nil && len(c.GitPassword) == 0 {
			problems = append(problems, fmt.Errorf("--git-password-file %s is empty", o.PasswordFile))
		}
	default:
		c.GitPassword = []byte(password)
	}
	if len(c.GitPassword) > 0 && o.Git.Username == "" {
		problems = append(problems, errors.New("a Git password is given but no --git-username"))
	}
	if o.SSHKeyFile != "" {
		data, err := readSecretFile("--ssh-key", o.SSHKeyFile)
		if err != nil {
			problems = append(problems, err)
		} else if !bytes.Contains(data, []byte("PRIVATE KEY-----")) {
			problems = append(problems, fmt.Errorf("--ssh-key %s is not a PEM or OpenSSH private key", o.SSHKeyFile))
		}
		c.SSHKey = data
	}
	if o.KnownHostsFile != "" {
		data, err := readSecretFile("--known-hosts", o.KnownHostsFile)
		if err != nil {
			problems = append(problems, err)
		}
		c.KnownHosts = data
	}
	if o.SOPSKeyFile != "" {
		data, err := readSecretFile("--sops-key-file", o.SOPSKeyFile)
		if err != nil {
			problems = append(problems, err)
		} else if len(bytes.TrimSpace(data)) == 0 {
			problems = append(problems, fmt.Errorf("--sops-key-file %s is empty", o.SOPSKeyFile))
		}
		c.SOPSKeys = data
	}
	c.SSHKeyPassphrase = []byte(o.getenv(envSSHKeyPassphrase))
	c.WebhookSecret = []byte(o.getenv(envWebhookSecret))
	if len(problems) > 0 {
		return manifests.Credentials{}, errs.Input(errors.Join(problems...))
	}
	return c, nil
}

// needsSOPSKeys is an error when the environment decrypts SOPS files,
// which the daemon could not do without keys of its own: the render here
// had this machine's keys.
func needsSOPSKeys(rendered *render.Result) error {
	files := rendered.SOPSFiles()
	if len(files) == 0 {
		return nil
	}
	return errs.Inputf("environment %s decrypts SOPS files (%s): give the daemon the keys that open them with --sops-key-file",
		rendered.Environment, strings.Join(files, ", "))
}

// readSecretFile reads a file a flag names; the error names the flag and
// file, never the content.
func readSecretFile(flag, path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	return data, nil
}

// gitTarget says what the daemon follows, for the closing line.
func gitTarget(g manifests.Git) string {
	ref := "the default branch"
	switch {
	case g.Branch != "":
		ref = "branch " + g.Branch
	case g.Tag != "":
		ref = "tag " + g.Tag
	case g.SemVer != "":
		ref = "semver " + g.SemVer
	case g.Commit != "":
		ref = "commit " + g.Commit
	}
	s := g.URL + " " + ref
	if g.Path != "" {
		s += " (path " + g.Path + ")"
	}
	return s
}
