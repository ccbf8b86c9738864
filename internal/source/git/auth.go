package git

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/file"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"github.com/skeema/knownhosts"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// Auth is how a Source proves who it is and whom it trusts. Secrets are
// given as values (read by the caller from a variable or a file, never a
// flag) and never appear in an error, a log line or String.
type Auth struct {
	// Username is the HTTPS user name; "git" when only a password is
	// given, which token-based hosts accept.
	Username string
	// Password is the HTTPS password or token.
	Password string
	// PasswordFrom says where the password came from, such as
	// "ENVCTL_GIT_PASSWORD", so that an authentication failure can name
	// the credential that was tried.
	PasswordFrom string
	// CAFile holds PEM certificates trusted for HTTPS besides the system's.
	CAFile string
	// SSHKeyFile is an SSH private key; with none, a running ssh-agent
	// (SSH_AUTH_SOCK) is asked.
	SSHKeyFile string
	// SSHKeyPassphrase decrypts SSHKeyFile.
	SSHKeyPassphrase string
	// KnownHostsFile lists the SSH host keys trusted; required for ssh://,
	// since envctl trusts no host on first use.
	KnownHostsFile string
}

// tried describes the credential that a request carried, for an error.
func (a Auth) tried(u *URL) string {
	switch u.Scheme {
	case SchemeHTTPS, SchemeHTTP:
		if a.Password == "" {
			return "no credentials were given (set --git-username and ENVCTL_GIT_PASSWORD or --git-password-file)"
		}
		return fmt.Sprintf("tried user %q with the password from %s", a.username(u), a.PasswordFrom)
	case SchemeSSH:
		if a.SSHKeyFile == "" {
			return fmt.Sprintf("tried user %q with the keys of ssh-agent", sshUser(u))
		}
		return fmt.Sprintf("tried user %q with the key %s", sshUser(u), a.SSHKeyFile)
	}
	return "no credentials"
}

func (a Auth) username(u *URL) string {
	switch {
	case a.Username != "":
		return a.Username
	case u.User != "":
		return u.User
	}
	return "git"
}

func sshUser(u *URL) string {
	if u.User != "" {
		return u.User
	}
	return "git"
}

// client is what a Source talks to a remote with: a transport and the
// credentials it sends, built once so that connections are reused.
type client struct {
	transport transport.Transport
	auth      transport.AuthMethod
}

// newClient checks the credentials against the URL's scheme and builds its
// transport. Credentials over plain http are refused: anyone on the path
// would read them.
func newClient(u *URL, a Auth, allowFile bool) (*client, error) {
	switch u.Scheme {
	case SchemeHTTP, SchemeHTTPS:
		if a.SSHKeyFile != "" || a.KnownHostsFile != "" {
			return nil, fmt.Errorf("--ssh-key and --known-hosts are for ssh:// URLs, not %s", u)
		}
		if u.Scheme == SchemeHTTP && (a.Password != "" || a.Username != "" || u.User != "") {
			return nil, fmt.Errorf("refusing to send credentials over plain http to %s: use https://", u)
		}
		if u.Scheme == SchemeHTTP && a.CAFile != "" {
			return nil, fmt.Errorf("--ca-file is for https:// URLs, not %s", u)
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		if a.CAFile != "" {
			pool, err := caPool(a.CAFile)
			if err != nil {
				return nil, err
			}
			tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		}
		c := &client{transport: githttp.NewClient(&http.Client{Transport: tr})}
		if a.Password != "" {
			c.auth = &githttp.BasicAuth{Username: a.username(u), Password: a.Password}
		} else if a.Username != "" {
			return nil, fmt.Errorf("--git-username %q has no password: set ENVCTL_GIT_PASSWORD or --git-password-file", a.Username)
		}
		return c, nil
	case SchemeSSH:
		if a.Password != "" || a.CAFile != "" || a.Username != "" {
			return nil, fmt.Errorf("--git-username, the password and --ca-file are for https:// URLs; %s authenticates with --ssh-key", u)
		}
		auth, err := newSSHAuth(u, a)
		if err != nil {
			return nil, err
		}
		return &client{transport: gitssh.DefaultClient, auth: auth}, nil
	case SchemeFile:
		if !allowFile {
			return nil, fmt.Errorf("file:// URLs are only read by the envctl command line, not here (%s)", u)
		}
		return &client{transport: file.DefaultClient}, nil
	}
	return nil, fmt.Errorf("unsupported scheme %q", u.Scheme)
}

// caPool is the system's trusted certificates plus those of file.
func caPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--ca-file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--ca-file %s holds no PEM certificate", file)
	}
	return pool, nil
}

// sshAuth authenticates with a key (or ssh-agent's keys) and accepts only
// the host keys known_hosts lists for the host, negotiating only their
// algorithms so that a server cannot pick a key type known_hosts lacks.
type sshAuth struct {
	user       string
	keyFile    string
	signers    func() ([]ssh.Signer, error)
	hostKeys   ssh.HostKeyCallback
	algorithms []string
	// timeout bounds the connection and handshake, which go-git does not
	// tie to a context.
	timeout time.Duration
}

func newSSHAuth(u *URL, a Auth) (*sshAuth, error) {
	if a.KnownHostsFile == "" {
		return nil, fmt.Errorf("%s needs --known-hosts FILE: envctl does not trust an SSH host on first use (get the line with `ssh-keyscan %s`, check it, and save it)", u, u.Host)
	}
	db, err := knownhosts.NewDB(a.KnownHostsFile)
	if err != nil {
		return nil, fmt.Errorf("--known-hosts %s: %w", a.KnownHostsFile, err)
	}
	algos := db.HostKeyAlgorithms(u.Address())
	if len(algos) == 0 {
		return nil, fmt.Errorf("host %s is not in --known-hosts %s: envctl does not trust an SSH host on first use", u.Address(), a.KnownHostsFile)
	}
	s := &sshAuth{user: sshUser(u), keyFile: a.SSHKeyFile, hostKeys: db.HostKeyCallback(), algorithms: algos}
	if a.SSHKeyFile != "" {
		signer, err := loadKey(a.SSHKeyFile, a.SSHKeyPassphrase)
		if err != nil {
			return nil, err
		}
		s.signers = func() ([]ssh.Signer, error) { return []ssh.Signer{signer}, nil }
		return s, nil
	}
	sock := os.Getenv("SSH_AUTH_SOCK")
	if sock == "" {
		return nil, fmt.Errorf("%s needs --ssh-key FILE (or a running ssh-agent)", u)
	}
	s.signers = func() ([]ssh.Signer, error) {
		conn, err := net.Dial("unix", sock)
		if err != nil {
			return nil, fmt.Errorf("ssh-agent: %w", err)
		}
		return agent.NewClient(conn).Signers()
	}
	return s, nil
}

// loadKey reads a private key; the errors say what to do and never quote
// the key or the passphrase.
func loadKey(file, passphrase string) (ssh.Signer, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--ssh-key: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(pem)
	var missing *ssh.PassphraseMissingError
	switch {
	case errors.As(err, &missing):
		if passphrase == "" {
			return nil, fmt.Errorf("--ssh-key %s is encrypted: set its passphrase in ENVCTL_SSH_KEY_PASSPHRASE", file)
		}
		signer, err = ssh.ParsePrivateKeyWithPassphrase(pem, []byte(passphrase))
		if errors.Is(err, x509.IncorrectPasswordError) {
			return nil, fmt.Errorf("--ssh-key %s: the passphrase in ENVCTL_SSH_KEY_PASSPHRASE does not decrypt it", file)
		}
		if err != nil {
			return nil, fmt.Errorf("--ssh-key %s: cannot decrypt the key with ENVCTL_SSH_KEY_PASSPHRASE (%s)", file, keyErrorReason(err))
		}
	case err != nil:
		return nil, fmt.Errorf("--ssh-key %s is not a private key this envctl reads (%s)", file, keyErrorReason(err))
	}
	return signer, nil
}

// keyErrorReason keeps a parse error's reason, which names formats and
// never key material.
func keyErrorReason(err error) string {
	msg := err.Error()
	if len(msg) > 120 {
		msg = msg[:120]
	}
	return msg
}

// Name implements transport.AuthMethod.
func (s *sshAuth) Name() string { return "ssh-public-keys" }

// String names the key file, never the key.
func (s *sshAuth) String() string {
	if s.keyFile == "" {
		return "user " + s.user + " with the keys of ssh-agent"
	}
	return "user " + s.user + " with key " + s.keyFile
}

// ClientConfig implements go-git's ssh.AuthMethod.
func (s *sshAuth) ClientConfig() (*ssh.ClientConfig, error) {
	return &ssh.ClientConfig{
		User:              s.user,
		Auth:              []ssh.AuthMethod{ssh.PublicKeysCallback(s.signers)},
		HostKeyCallback:   s.hostKeys,
		HostKeyAlgorithms: s.algorithms,
		Timeout:           s.timeout,
	}, nil
}
