package daemon

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/pflag"

	"github.com/envctl/envctl/internal/credential"
	"github.com/envctl/envctl/internal/daemon/manifests"
	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/lease"
	"github.com/envctl/envctl/internal/notify"
	"github.com/envctl/envctl/internal/sopskeys"
)

// BindInstallGitFlags binds the Git flags of `daemon install`: plain
// strings into m, passed through to the daemon's arguments as given, and
// the files of the credentials Secret into files.
func BindInstallGitFlags(fs *pflag.FlagSet, m *manifests.Options, files *CredentialFiles) {
	fs.StringVar(&m.Git.URL, "git", "", "URL of the Git repository the daemon follows (https://, ssh:// or user@host:path)")
	fs.StringVar(&m.Git.Branch, "branch", "", "branch to follow")
	fs.StringVar(&m.Git.Tag, "tag", "", "tag to follow")
	fs.StringVar(&m.Git.SemVer, "semver", "", "follow the highest tag within this semver range")
	fs.StringVar(&m.Git.Commit, "commit", "", "stay at this commit")
	fs.StringVar(&m.Git.Path, "path", "", "directory of the repository that holds config.yaml")
	fs.StringVar(&m.Git.Username, "git-username", "", "user name for HTTPS; the password comes from "+EnvGitPassword+" or --git-password-file")
	fs.StringVar(&files.PasswordFile, "git-password-file", "", "file holding the HTTPS password or token, stored in the daemon's Secret")
	fs.StringVar(&files.SSHKeyFile, "ssh-key", "", "SSH private key file, stored in the daemon's Secret; its passphrase comes from "+EnvSSHKeyPassphrase)
	fs.StringVar(&files.KnownHostsFile, "known-hosts", "", "known_hosts file that vouches for the SSH server's key")
	fs.StringVar(&files.SOPSKeyFile, "sops-key-file", "", "file of age identities or OpenPGP private keys that open the environment's SOPS files, stored in the daemon's Secret")
	fs.Var(sopskeys.AddressesFlag{Addrs: &m.SOPSKeyServices}, "daemon-sops-keyservice", "sops key service the daemon asks for SOPS data keys (tcp://host:port or unix:///path, reachable from the daemon's pod; cloud KMS, Vault); repeatable")
	fs.StringVar(&files.CAFile, "ca-file", "", "PEM certificates the daemon trusts for the Git server over https besides the system's (a private CA), stored in the daemon's Secret")
}

// PrepareManifests checks the flags of `daemon install` that need no
// repository (--timeout, --replicas) and reads the credentials Secret's
// values into m: files, the operator's chart credentials helm, and the
// variables getenv reads, the notifiers' (nf) included; version is
// envctl's.
func PrepareManifests(m *manifests.Options, timeout time.Duration, files CredentialFiles, nf *notify.Flags, helm credential.Set, getenv func(string) string, version string) error {
	if timeout < 0 {
		return errs.Input(fmt.Errorf("--timeout must not be negative, got %s", timeout))
	}
	if m.Replicas < 1 {
		return errs.Input(fmt.Errorf("--replicas %d: want 1 or more", m.Replicas))
	}
	creds, err := ReadCredentials(files, m.Git.Username, helm, getenv)
	if err == nil {
		m.NotifyArgs, err = ReadNotify(&creds, nf, m.Git.URL, getenv)
	}
	if err != nil {
		return err
	}
	m.Version, m.Credentials = version, creds
	return nil
}

// CheckManifests builds env's daemon from m once, so that a mistake in
// the flags stops the install before it reaches for the cluster.
func CheckManifests(env string, m manifests.Options) error {
	_, err := manifests.Build(manifests.Options{Environment: env, Git: m.Git, Replicas: m.Replicas, Credentials: m.Credentials})
	return err
}

// StandbyLease is the lease of a daemon replica of env: it waits for the
// lead as long as it takes, logging who holds it.
func StandbyLease(env string, log *slog.Logger) lease.Options {
	return lease.Options{
		Wait: lease.Forever,
		OnWait: func(holder string, since time.Time) {
			log.Info("standby: another replica leads", "environment", env, "leader", holder, "since", since)
		},
	}
}
