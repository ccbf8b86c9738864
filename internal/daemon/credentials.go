package daemon

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/credential"
	"github.com/envctl/envctl/internal/daemon/manifests"
	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/notify"
	"github.com/envctl/envctl/internal/webhook"
)

// Variables the daemon's secrets are read from, so that they never sit in
// a command line or a shell history.
const (
	EnvGitPassword      = config.EnvPrefix + "GIT_PASSWORD"
	EnvSSHKeyPassphrase = config.EnvPrefix + "SSH_KEY_PASSPHRASE"
	EnvWebhookSecret    = webhook.SecretEnv
)

// CredentialFiles name the files, read on this machine, that the daemon's
// secrets come from besides the variables. Each is named by the flag that
// gave it in errors.
type CredentialFiles struct {
	PasswordFile   string
	SSHKeyFile     string
	KnownHostsFile string
	// SOPSKeyFile holds the keys the daemon decrypts the environment's
	// SOPS files with.
	SOPSKeyFile string
	// CAFile holds PEM certificates the daemon trusts for its Git server.
	CAFile string
}

// ReadCredentials gathers the daemon's secrets from the variables (read
// with getenv) and the files; username is the Git user name, which a
// password needs, and helm the chart credentials the operator bound, which
// go into the Secret as a credentials file. Every problem is bad input
// naming the variable or file, never a secret.
func ReadCredentials(files CredentialFiles, username string, helm credential.Set, getenv func(string) string) (manifests.Credentials, error) {
	var c manifests.Credentials
	var problems []error
	add := func(err error) {
		if err != nil {
			problems = append(problems, err)
		}
	}
	var err error
	c.GitPassword, err = readPassword(files.PasswordFile, getenv(EnvGitPassword))
	add(err)
	if len(c.GitPassword) > 0 && username == "" {
		add(errors.New("a Git password is given but no --git-username"))
	}
	if files.SSHKeyFile != "" {
		c.SSHKey, err = readSecretFile("--ssh-key", files.SSHKeyFile)
		if err == nil && !bytes.Contains(c.SSHKey, []byte("PRIVATE KEY-----")) {
			err = fmt.Errorf("--ssh-key %s is not a PEM or OpenSSH private key", files.SSHKeyFile)
		}
		add(err)
	}
	if files.KnownHostsFile != "" {
		c.KnownHosts, err = readSecretFile("--known-hosts", files.KnownHostsFile)
		add(err)
	}
	if files.SOPSKeyFile != "" {
		c.SOPSKeys, err = readSecretFile("--sops-key-file", files.SOPSKeyFile)
		if err == nil && len(bytes.TrimSpace(c.SOPSKeys)) == 0 {
			err = fmt.Errorf("--sops-key-file %s is empty", files.SOPSKeyFile)
		}
		add(err)
	}
	if files.CAFile != "" {
		c.GitCA, err = readSecretFile("--ca-file", files.CAFile)
		if err == nil && !x509.NewCertPool().AppendCertsFromPEM(c.GitCA) {
			err = fmt.Errorf("--ca-file %s holds no PEM certificate", files.CAFile)
		}
		add(err)
	}
	if len(helm) > 0 {
		c.HelmCredentials, err = credential.Marshal(helm)
		add(err)
	}
	c.SSHKeyPassphrase = []byte(getenv(EnvSSHKeyPassphrase))
	c.WebhookSecret = []byte(getenv(EnvWebhookSecret))
	if len(problems) > 0 {
		return manifests.Credentials{}, errs.Input(errors.Join(problems...))
	}
	return c, nil
}

// readPassword reads the Git password from its one place: the variable's
// value, or the file.
func readPassword(file, fromEnv string) ([]byte, error) {
	switch {
	case fromEnv != "" && file != "":
		return nil, fmt.Errorf("%s and --git-password-file both give the Git password; give one", EnvGitPassword)
	case file == "":
		return []byte(fromEnv), nil
	}
	data, err := readSecretFile("--git-password-file", file)
	if err != nil {
		return nil, err
	}
	// A password file written by echo ends in a newline that is not part
	// of the password.
	password := bytes.TrimRight(data, "\r\n")
	if len(password) == 0 {
		return nil, fmt.Errorf("--git-password-file %s is empty", file)
	}
	return password, nil
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

// ReadNotify reads the notifiers' secrets (from their variables, read with
// getenv, or the files f names) into c and returns the daemon's
// notification flags that carry no secret. It checks the settings as the
// daemon will (a token for each commit status, a repository --git names,
// a signing secret for the webhook), so that a mistake shows at install.
func ReadNotify(c *manifests.Credentials, f *notify.Flags, gitURL string, getenv func(string) string) ([]string, error) {
	lookup := func(k string) (string, bool) { v := getenv(k); return v, v != "" }
	if _, err := f.Build(gitURL, lookup); err != nil {
		return nil, err
	}
	var problems []error
	read := func(dst *[]byte, env, file, flag string) {
		v, err := notify.Secret(lookup, env, file, flag)
		if err != nil {
			problems = append(problems, err)
		}
		*dst = v
	}
	if f.GitHubStatus {
		read(&c.GitHubToken, notify.EnvGitHubToken, f.GitHubTokenFile, "github-token-file")
	}
	if f.GitLabStatus {
		read(&c.GitLabToken, notify.EnvGitLabToken, f.GitLabTokenFile, "gitlab-token-file")
	}
	if f.Webhook != "" {
		read(&c.NotifyWebhookSecret, notify.EnvWebhookSecret, f.WebhookSecretFile, "notify-webhook-secret-file")
	}
	read(&c.Slack, notify.EnvSlackWebhook, f.SlackFile, "slack-webhook-url-file")
	if len(problems) > 0 {
		return nil, errs.Input(errors.Join(problems...))
	}
	return f.PassThrough(), nil
}
