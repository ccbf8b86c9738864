package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

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
	}
	c, err := ReadCredentials(files, "bot", getenv)
	if err != nil {
		t.Fatal(err)
	}
	// A password file's trailing newline is not part of the password.
	if string(c.GitPassword) != "s3cret" || string(c.SSHKeyPassphrase) != "phrase" || string(c.WebhookSecret) != "hook" ||
		len(c.SSHKey) == 0 || len(c.KnownHosts) == 0 || len(c.SOPSKeys) == 0 {
		t.Errorf("credentials = %+v", c)
	}
}

func TestReadCredentialsProblems(t *testing.T) {
	env := map[string]string{EnvGitPassword: "from-env"}
	files := CredentialFiles{
		PasswordFile: writeFile(t, "password", "x"),
		SSHKeyFile:   writeFile(t, "key", "not a key"),
		SOPSKeyFile:  writeFile(t, "keys", " \n"),
	}
	_, err := ReadCredentials(files, "", func(k string) string { return env[k] })
	if errs.KindOf(err) != errs.KindInput {
		t.Fatalf("err = %v; want bad input", err)
	}
	// Every problem is said at once, and no secret is.
	for _, w := range []string{
		"ENVCTL_GIT_PASSWORD and --git-password-file both give the Git password",
		"is not a PEM or OpenSSH private key",
		"is empty",
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not say %q:\n%v", w, err)
		}
	}
	if strings.Contains(err.Error(), "from-env") {
		t.Errorf("error shows the password: %v", err)
	}

	env = map[string]string{EnvGitPassword: "from-env"}
	if _, err := ReadCredentials(CredentialFiles{}, "", func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "no --git-username") {
		t.Errorf("a password without a user name: %v", err)
	}
}
