package daemon

import (
	"encoding/pem"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/envctl/envctl/internal/credential"
	"github.com/envctl/envctl/internal/errs"
)

func writeFile(t *testing.T, name, data string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadCredentials(t *testing.T) {
	env := map[string]string{EnvSSHKeyPassphrase: "phrase", EnvWebhookSecret: "hook"}
	getenv := func(k string) string { return env[k] }
	files := CredentialFiles{
		PasswordFile:   writeFile(t, "password", "s3cret\n"),
		SSHKeyFile:     writeFile(t, "key", "-----BEGIN OPENSSH PRIVATE KEY-----\n"),
		KnownHostsFile: writeFile(t, "known_hosts", "host ssh-ed25519 AAAA\n"),
		SOPSKeyFile:    writeFile(t, "keys", "AGE-SECRET-KEY-1\n"),
		CAFile:         writeFile(t, "ca.pem", string(testCA(t))),
	}
	helm := credential.Set{"charts": {Name: "charts", Hosts: []string{"charts.example.com"}, Username: "reader", Password: "charts-pass"}}
	c, err := ReadCredentials(files, "bot", helm, getenv)
	if err != nil {
		t.Fatal(err)
	}
	// A password file's trailing newline is not part of the password.
	if string(c.GitPassword) != "s3cret" || string(c.SSHKeyPassphrase) != "phrase" || string(c.WebhookSecret) != "hook" ||
		len(c.SSHKey) == 0 || len(c.KnownHosts) == 0 || len(c.SOPSKeys) == 0 || string(c.GitCA) != string(testCA(t)) {
		t.Errorf("credentials = %+v", c)
	}
	// The chart credentials go in as a credentials file the daemon reads
	// back whole, hosts included.
	back, err := credential.Parse(c.HelmCredentials, "helm-credentials")
	if err != nil {
		t.Fatal(err)
	}
	helm["charts"].From = "helm-credentials"
	if diff := cmp.Diff(helm, back); diff != "" {
		t.Errorf("helm-credentials read back (-want +got):\n%s", diff)
	}
}

// testCA is a self-signed certificate in PEM, the same on every call.
func testCA(t *testing.T) []byte {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	defer srv.Close()
	srv.StartTLS()
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
}

func TestReadCredentialsProblems(t *testing.T) {
	env := map[string]string{EnvGitPassword: "from-env"}
	files := CredentialFiles{
		PasswordFile: writeFile(t, "password", "x"),
		SSHKeyFile:   writeFile(t, "key", "not a key"),
		SOPSKeyFile:  writeFile(t, "keys", " \n"),
		CAFile:       writeFile(t, "ca.pem", "not a certificate"),
	}
	_, err := ReadCredentials(files, "", nil, func(k string) string { return env[k] })
	if errs.KindOf(err) != errs.KindInput {
		t.Fatalf("err = %v; want bad input", err)
	}
	// Every problem is said at once, and no secret is.
	for _, w := range []string{
		"ENVCTL_GIT_PASSWORD and --git-password-file both give the Git password",
		"is not a PEM or OpenSSH private key",
		"is empty",
		"holds no PEM certificate",
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not say %q:\n%v", w, err)
		}
	}
	if strings.Contains(err.Error(), "from-env") {
		t.Errorf("error shows the password: %v", err)
	}

	env = map[string]string{EnvGitPassword: "from-env"}
	if _, err := ReadCredentials(CredentialFiles{}, "", nil, func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "no --git-username") {
		t.Errorf("a password without a user name: %v", err)
	}
}
