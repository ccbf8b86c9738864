package git

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/source/git/gittest"
)

const (
	testUser     = "envctl"
	testPassword = "s3cr3t-token-7f1c"
)

// TestHTTPS fetches over TLS with a private CA and basic auth, and checks
// what each wrong setting says: which credential was tried, never its
// value.
func TestHTTPS(t *testing.T) {
	f := newFixture(t, gittest.HTTPOptions{TLS: true, User: testUser, Password: testPassword})
	f.repo.Write(map[string]string{"config.yaml": "v: 1\n"})
	c := f.repo.Commit("first")
	good := Auth{Username: testUser, Password: testPassword, PasswordFrom: "ENVCTL_GIT_PASSWORD", CAFile: f.http.CAFile}
	tests := []struct {
		name string
		auth Auth
		// want is in the error; "" means success.
		want string
		kind errs.Kind
	}{
		{name: "CA and credentials", auth: good},
		{name: "wrong password", auth: Auth{Username: testUser, Password: "wrong-" + testPassword, PasswordFrom: "--git-password-file /run/pw", CAFile: f.http.CAFile},
			want: `refused the credentials (HTTP 401): tried user "envctl" with the password from --git-password-file /run/pw`, kind: errs.KindInput},
		{name: "no credentials", auth: Auth{CAFile: f.http.CAFile},
			want: "no credentials were given", kind: errs.KindInput},
		{name: "no CA", auth: Auth{Username: testUser, Password: testPassword, PasswordFrom: "ENVCTL_GIT_PASSWORD"},
			want: "not signed by a trusted authority; give its CA with --ca-file", kind: errs.KindInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := f.source(func(o *Options) { o.Auth = tt.auth })
			snap, err := s.Snapshot(context.Background())
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if snap.Revision != "main@sha1:"+c {
					t.Errorf("revision %s", snap.Revision)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Snapshot = %v, want an error saying %q", err, tt.want)
			}
			if errs.KindOf(err) != tt.kind {
				t.Errorf("kind %v, want %v", errs.KindOf(err), tt.kind)
			}
			if strings.Contains(err.Error(), testPassword) {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}

// TestSSH fetches over SSH with a key, and checks known_hosts: a matching
// entry is required, a mismatch and an absent host are refused before any
// key is offered.
func TestSSH(t *testing.T) {
	gittest.NeedGit(t)
	root := t.TempDir()
	repo := gittest.NewRepo(t, root, "platform.git")
	repo.Write(map[string]string{"config.yaml": "v: ssh\n"})
	c := repo.Commit("first")
	srv := gittest.NewSSHServer(t, root, "")
	enc := gittest.NewSSHServer(t, root, "key passphrase")

	// known_hosts files that do not match: another key for the host, and
	// only another host.
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	otherSigner, _ := ssh.NewSignerFromKey(other)
	dir := t.TempDir()
	mismatch := filepath.Join(dir, "mismatch")
	absent := filepath.Join(dir, "absent")
	must(t, os.WriteFile(mismatch, []byte(knownhosts.Line([]string{knownhosts.Normalize(srv.Addr)}, otherSigner.PublicKey())+"\n"), 0o600))
	must(t, os.WriteFile(absent, []byte(knownhosts.Line([]string{"[example.com]:2222"}, srv.HostKey)+"\n"), 0o600))

	tests := []struct {
		name    string
		url     string
		auth    Auth
		want    string
		atNew   bool
		scpLike bool
	}{
		{name: "known host", url: srv.URL("platform.git"), auth: Auth{SSHKeyFile: srv.KeyFile, KnownHostsFile: srv.KnownHosts}},
		{name: "encrypted key", url: enc.URL("platform.git"), auth: Auth{SSHKeyFile: enc.KeyFile, SSHKeyPassphrase: "key passphrase", KnownHostsFile: enc.KnownHosts}},
		{name: "encrypted key without its passphrase", url: enc.URL("platform.git"), atNew: true,
			auth: Auth{SSHKeyFile: enc.KeyFile, KnownHostsFile: enc.KnownHosts}, want: "is encrypted: set its passphrase in ENVCTL_SSH_KEY_PASSPHRASE"},
		{name: "wrong passphrase", url: enc.URL("platform.git"), atNew: true,
			auth: Auth{SSHKeyFile: enc.KeyFile, SSHKeyPassphrase: "nope", KnownHostsFile: enc.KnownHosts}, want: "does not decrypt it"},
		{name: "host key mismatch", url: srv.URL("platform.git"), auth: Auth{SSHKeyFile: srv.KeyFile, KnownHostsFile: mismatch},
			want: "does not match --known-hosts"},
		{name: "host not in known_hosts", url: srv.URL("platform.git"), atNew: true,
			auth: Auth{SSHKeyFile: srv.KeyFile, KnownHostsFile: absent}, want: "is not in --known-hosts"},
		{name: "key not authorized", url: srv.URL("platform.git"), auth: Auth{SSHKeyFile: enc.KeyFile, SSHKeyPassphrase: "key passphrase", KnownHostsFile: srv.KnownHosts},
			want: "refused the SSH authentication: tried user \"git\" with the key " + enc.KeyFile},
		{name: "missing repository", url: srv.URL("nope.git"), auth: Auth{SSHKeyFile: srv.KeyFile, KnownHostsFile: srv.KnownHosts},
			want: "not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(Options{URL: tt.url, Auth: tt.auth, CacheDir: t.TempDir()})
			if tt.atNew {
				if err == nil || !strings.Contains(err.Error(), tt.want) || errs.KindOf(err) != errs.KindInput {
					t.Fatalf("New = %v, want an input error saying %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			snap, err := s.Snapshot(context.Background())
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if snap.Revision != "main@sha1:"+c || read(t, snap, "config.yaml") != "v: ssh\n" {
					t.Errorf("snapshot %+v", snap)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Snapshot = %v, want an error saying %q", err, tt.want)
			}
			if errs.KindOf(err) != errs.KindInput {
				t.Errorf("kind %v, want input", errs.KindOf(err))
			}
			if strings.Contains(err.Error(), "key passphrase") {
				t.Errorf("the error shows the passphrase: %v", err)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
