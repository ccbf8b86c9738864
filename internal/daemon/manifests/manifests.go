// Package manifests holds the Kubernetes objects that run envctl's daemon
// inside a cluster: its Namespace, ServiceAccount, RBAC, Deployment,
// Service, PodDisruptionBudget and credentials Secret.
//
// They are built in Go, from Options, so that there is one source for the
// two ways of installing the daemon: `envctl daemon install ENV` applies
// Build's objects through envctl's own engine, and bases/envctl/ holds the
// same objects as a kustomize base, written by WriteBase and checked by a
// golden test that fails when the base is stale.
package manifests

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/inventory"
)

// Namespace is where the daemon runs: the namespace where envctl already
// keeps its inventories and where the daemon's Lease lives.
const Namespace = inventory.Namespace

// Port serves /metrics, /healthz, /readyz and the Git webhook.
const Port = 8080

// DefaultReplicas is how many daemons run: one leader and a standby that
// takes over within seconds when the leader's node goes.
const DefaultReplicas = 2

// DefaultImage is the image the Deployment runs unless told otherwise; the
// tag is the envctl version doing the install, so that the daemon runs the
// same code as the CLI that installed it.
func DefaultImage(version string) string {
	if version == "" || version == "dev" || strings.ContainsAny(version, "+ ") {
		version = "latest"
	}
	return "ghcr.io/envctl/envctl:" + version
}

// namePrefix starts the name of every object of a daemon installation.
const namePrefix = "envctl-daemon-"

// Name is the name of the daemon of environment env: its Deployment,
// ServiceAccount, Service, RBAC objects and PodDisruptionBudget, and the
// environment name envctl records the installation's own inventory under.
// One name per environment lets the daemons of several environments share
// a cluster.
func Name(env string) string { return namePrefix + env }

// Paths inside the daemon's container.
const (
	credentialsDir = "/etc/envctl/credentials"
	cacheDir       = "/var/cache/envctl"
	tmpDir         = "/tmp"
)

// Options describe one installation of the daemon.
type Options struct {
	// Environment is the environment the daemon keeps converged.
	Environment string
	// Image is the container image; empty means DefaultImage(Version).
	Image string
	// Version is the envctl version doing the install, for DefaultImage.
	Version string
	// Replicas defaults to DefaultReplicas.
	Replicas int32
	// Git is where the daemon reads the repository from.
	Git Git
	// Credentials, when any is set, go into a Secret the Deployment uses.
	Credentials Credentials
	// DecryptsSOPS says the environment has SOPS-encrypted files: the
	// daemon reads its keys from the Secret's sops-keys even when
	// Credentials leave them to someone else (the kustomize base).
	DecryptsSOPS bool
	// SOPSKeyServices are the sops key services the daemon asks for the
	// SOPS data keys its own keys do not open (--daemon-sops-keyservice):
	// the operator's choice, passed as the daemon's --sops-keyservice.
	SOPSKeyServices []string
	// Resources are what the environment renders: the daemon's RBAC lets
	// it apply and prune exactly these (see ResourcesOf).
	Resources []Resource
	// NotifyArgs are the daemon's notification flags that carry no secret
	// (--github-status, --notify-webhook URL, ...), passed through as
	// given; the secrets are Credentials.
	NotifyArgs []string
}

// Git are the daemon's Git flags, passed through to its arguments as given.
type Git struct {
	URL      string
	Branch   string
	Tag      string
	SemVer   string
	Commit   string
	Path     string
	Username string
}

// Credentials are the secrets the daemon needs. They only ever go into the
// Secret's data; no other object, argument or message carries them.
type Credentials struct {
	// GitPassword is the HTTPS password or token (ENVCTL_GIT_PASSWORD, or
	// --git-password-file).
	GitPassword []byte
	// SSHKey is the private key of --ssh-key, SSHKeyPassphrase its
	// passphrase (ENVCTL_SSH_KEY_PASSPHRASE).
	SSHKey           []byte
	SSHKeyPassphrase []byte
	// KnownHosts is the --known-hosts file: not secret, but it belongs
	// with the key it vouches for.
	KnownHosts []byte
	// WebhookSecret checks the signatures of Git webhooks
	// (ENVCTL_WEBHOOK_SECRET).
	WebhookSecret []byte
	// SOPSKeys are the age identities or OpenPGP private keys that open
	// the environment's SOPS-encrypted files (--sops-key-file).
	SOPSKeys []byte
	// HelmCredentials is a credentials file (kind HelmCredentials) of the
	// chart repository and registry credentials the operator bound, each
	// with the hosts it may be sent to.
	HelmCredentials []byte
	// GitCA is the --ca-file the daemon trusts for its Git server: not
	// secret, but it belongs with the credentials it protects.
	GitCA []byte
	// The notifiers' secrets: the GitHub and GitLab tokens of commit
	// statuses, the generic webhook's signing secret and the Slack
	// incoming webhook URL.
	GitHubToken, GitLabToken   []byte
	NotifyWebhookSecret, Slack []byte
}

// Keys of the credentials Secret; the Deployment mounts it as files under
// credentialsDir and reads the two passphrase-like keys as environment
// variables, the way the daemon takes them.
const (
	keyGitPassword      = "git-password"
	keySSHKey           = "ssh-key"
	keySSHKeyPassphrase = "ssh-key-passphrase"
	keyKnownHosts       = "known-hosts"
	keyWebhookSecret    = "webhook-secret"
	keySOPSKeys         = "sops-keys"
	keyHelmCredentials  = "helm-credentials"
	keyGitCA            = "git-ca.pem"
	keyGitHubToken      = "github-token"
	keyGitLabToken      = "gitlab-token"
	keyNotifySecret     = "notify-webhook-secret"
	keySlack            = "slack-webhook-url"
)

// notifyFiles pair the notifiers' Secret keys with the daemon flags that
// read them.
var notifyFiles = []struct{ key, flag string }{
	{keyGitHubToken, "--github-token-file"},
	{keyGitLabToken, "--gitlab-token-file"},
	{keyNotifySecret, "--notify-webhook-secret-file"},
	{keySlack, "--slack-webhook-url-file"},
}

// data is the Secret's data, only the keys that are set.
func (c Credentials) data() map[string][]byte {
	d := map[string][]byte{}
	for k, v := range map[string][]byte{
		keyGitPassword:      c.GitPassword,
		keySSHKey:           c.SSHKey,
		keySSHKeyPassphrase: c.SSHKeyPassphrase,
		keyKnownHosts:       c.KnownHosts,
		keyWebhookSecret:    c.WebhookSecret,
		keySOPSKeys:         c.SOPSKeys,
		keyHelmCredentials:  c.HelmCredentials,
		keyGitCA:            c.GitCA,
		keyGitHubToken:      c.GitHubToken,
		keyGitLabToken:      c.GitLabToken,
		keyNotifySecret:     c.NotifyWebhookSecret,
		keySlack:            c.Slack,
	} {
		if len(v) > 0 {
			d[k] = v
		}
	}
	return d
}

// has reports whether the credential under key is set.
func (c Credentials) has(key string) bool {
	_, ok := c.data()[key]
	return ok
}

// validate reports every problem of the options at once.
func (o *Options) validate() error {
	var problems []string
	if msgs := validation.IsDNS1123Label(o.Environment); len(msgs) > 0 {
		problems = append(problems, fmt.Sprintf("environment %q is not a valid name: %s", o.Environment, strings.Join(msgs, "; ")))
	} else if n := Name(o.Environment); len(n) > validation.DNS1123LabelMaxLength {
		problems = append(problems, fmt.Sprintf("environment %q is too long for the daemon's object names (%s is %d characters, at most %d)",
			o.Environment, n, len(n), validation.DNS1123LabelMaxLength))
	}
	if o.Git.URL == "" {
		problems = append(problems, "--git: the daemon needs the URL of the repository to follow")
	} else if u, err := url.Parse(o.Git.URL); err == nil && u.User != nil {
		if _, hasPassword := u.User.Password(); hasPassword {
			// The URL is an argument of the daemon, visible to anyone
			// who can read the Deployment.
			problems = append(problems, "--git: the URL holds a password; give it in ENVCTL_GIT_PASSWORD or --git-password-file instead")
		}
	}
	var refs []string
	for flag, v := range map[string]string{"--branch": o.Git.Branch, "--tag": o.Git.Tag, "--semver": o.Git.SemVer, "--commit": o.Git.Commit} {
		if v != "" {
			refs = append(refs, flag)
		}
	}
	if len(refs) > 1 {
		slices.Sort(refs)
		problems = append(problems, fmt.Sprintf("%s: give one reference to follow", strings.Join(refs, " and ")))
	}
	if o.Replicas < 0 {
		problems = append(problems, fmt.Sprintf("--replicas %d: want 1 or more", o.Replicas))
	}
	if len(o.Credentials.SSHKeyPassphrase) > 0 && len(o.Credentials.SSHKey) == 0 {
		problems = append(problems, "ENVCTL_SSH_KEY_PASSPHRASE is set but no --ssh-key is given")
	}
	if len(problems) > 0 {
		return errs.Input(errors.New(strings.Join(problems, "\n")))
	}
	return nil
}

// Build returns the daemon's objects for o, in apply order. The Secret is
// among them only when o has credentials.
func Build(o Options) ([]*unstructured.Unstructured, error) {
	if o.Replicas == 0 {
		o.Replicas = DefaultReplicas
	}
	if o.Image == "" {
		o.Image = DefaultImage(o.Version)
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	typed := []runtime.Object{
		namespace(),
		serviceAccount(o),
		clusterRole(o),
		clusterRoleBinding(o),
		role(o),
		roleBinding(o),
	}
	if s := secret(o); s != nil {
		typed = append(typed, s)
	}
	typed = append(typed, service(o), deployment(o), podDisruptionBudget(o))
	out := make([]*unstructured.Unstructured, 0, len(typed))
	for _, t := range typed {
		u, err := toUnstructured(t)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

// toUnstructured converts a typed object and drops what the conversion
// adds but an applied manifest should not carry: null creation
// timestamps and empty status.
func toUnstructured(obj runtime.Object) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("daemon manifests: %T: %w", obj, err)
	}
	delete(m, "status")
	dropNulls(m)
	return &unstructured.Unstructured{Object: m}, nil
}

// dropNulls removes null values, recursively.
func dropNulls(v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if e == nil {
				delete(x, k)
				continue
			}
			dropNulls(e)
		}
	case []any:
		for _, e := range x {
			dropNulls(e)
		}
	}
}
