package render

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/getsops/sops/v3/keyservice"
	"golang.org/x/crypto/ssh"

	"github.com/envctl/envctl/internal/sopskeys"
	"github.com/envctl/envctl/internal/sopskeys/sopskeystest"
)

// keyCanary is the value of ../cli/testdata/sops/token.sops.yaml.
const keyCanary = "sopscanary5f3a9c2e71d04b86"

// isolateKeys leaves sops' age lookup nothing of this machine's: a home
// and a configuration directory of the test's own, and no SOPS_ variable.
func isolateKeys(t *testing.T) (home string) {
	home = t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", "")
	for _, k := range []string{"XDG_CONFIG_HOME", sopskeys.EnvAgeKey, sopskeys.EnvAgeKeyFile, sopskeys.EnvAgeKeyCmd,
		sopskeys.EnvAgeSSHPrivateKeyFile, sopskeys.EnvAgeSSHPrivateKeyCmd} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	return home
}

// tokenFile returns the canary SOPS file with its data key encrypted for
// recipient (age or SSH) instead of the test key.
func tokenFile(t *testing.T, recipients ...string) []byte {
	t.Helper()
	file, err := os.ReadFile(filepath.Join("..", "cli", "testdata", "sops", "token.sops.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	id, err := os.ReadFile(filepath.Join("testdata", "sops", "test.agekey"))
	if err != nil {
		t.Fatal(err)
	}
	dataKey := sopskeystest.DataKey(t, file, string(id))
	var ages []map[string]any
	for _, r := range recipients {
		ages = append(ages, map[string]any{"recipient": r, "enc": sopskeystest.AgeEnc(t, r, dataKey)})
	}
	return sopskeystest.SetKeys(t, file, map[string][]map[string]any{"age": ages})
}

func newAgeKey(t *testing.T) *age.X25519Identity {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// newSSHKey writes an unencrypted OpenSSH ed25519 private key to path and
// returns its public key as an age recipient.
func newSSHKey(t *testing.T, path string) string {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp)))
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func mustDecrypt(t *testing.T, d *decrypter, file []byte) {
	t.Helper()
	plain, _, ok, err := d.decrypt(file, "app/token.sops.yaml")
	if err != nil || !ok {
		t.Fatalf("decrypt: ok %v, %v", ok, err)
	}
	if !bytes.Contains(plain, []byte(keyCanary)) {
		t.Fatalf("the decrypted file lacks the canary:\n%s", plain)
	}
}

// TestSOPSKeysWhereSopsFindsThem puts a key in each place sops' age key
// source reads, alone, and decrypts a file encrypted for it.
func TestSOPSKeysWhereSopsFindsThem(t *testing.T) {
	for _, tc := range []struct {
		name string
		// place puts a key where the case says and returns the file's
		// recipient.
		place func(t *testing.T, home string) string
	}{
		{"SOPS_AGE_KEY_FILE", func(t *testing.T, home string) string {
			id := newAgeKey(t)
			writeFile(t, filepath.Join(home, "k.txt"), id.String()+"\n")
			t.Setenv(sopskeys.EnvAgeKeyFile, filepath.Join(home, "k.txt"))
			return id.Recipient().String()
		}},
		{"SOPS_AGE_KEY", func(t *testing.T, home string) string {
			other, id := newAgeKey(t), newAgeKey(t)
			t.Setenv(sopskeys.EnvAgeKey, other.String()+" "+id.String())
			return id.Recipient().String()
		}},
		{"SOPS_AGE_KEY_CMD", func(t *testing.T, home string) string {
			id := newAgeKey(t)
			writeFile(t, filepath.Join(home, "secret-store"), id.String()+"\n")
			// The command is told which recipient is wanted, as sops tells it.
			t.Setenv(sopskeys.EnvAgeKeyCmd, `sh -c 'test "$SOPS_AGE_RECIPIENT" = `+id.Recipient().String()+` && cat `+filepath.Join(home, "secret-store")+`'`)
			return id.Recipient().String()
		}},
		{"XDG_CONFIG_HOME keys.txt", func(t *testing.T, home string) string {
			id := newAgeKey(t)
			cfg := filepath.Join(home, "xdg")
			writeFile(t, filepath.Join(cfg, "sops", "age", "keys.txt"), "# created: today\n"+id.String()+"\n")
			t.Setenv("XDG_CONFIG_HOME", cfg)
			return id.Recipient().String()
		}},
		{"~/.config/sops/age/keys.txt", func(t *testing.T, home string) string {
			id := newAgeKey(t)
			writeFile(t, filepath.Join(home, ".config", "sops", "age", "keys.txt"), id.String()+"\n")
			return id.Recipient().String()
		}},
		{"SOPS_AGE_SSH_PRIVATE_KEY_FILE", func(t *testing.T, home string) string {
			path := filepath.Join(home, "deploy-key")
			t.Setenv(sopskeys.EnvAgeSSHPrivateKeyFile, path)
			return newSSHKey(t, path)
		}},
		{"~/.ssh/id_ed25519", func(t *testing.T, home string) string {
			return newSSHKey(t, filepath.Join(home, ".ssh", "id_ed25519"))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := isolateKeys(t)
			// Encrypted for an unknown key too, as team files are.
			file := tokenFile(t, newAgeKey(t).Recipient().String(), tc.place(t, home))
			mustDecrypt(t, &decrypter{}, file)
		})
	}
}

// TestSOPSUnreadableVariableHidesNoKey: as with sops, a SOPS_AGE_KEY_FILE
// that names no file does not stop the key in the default keys file, and
// the message of a failure says what was wrong with it.
func TestSOPSUnreadableVariableHidesNoKey(t *testing.T) {
	home := isolateKeys(t)
	id := newAgeKey(t)
	writeFile(t, filepath.Join(home, ".config", "sops", "age", "keys.txt"), id.String()+"\n")
	t.Setenv(sopskeys.EnvAgeKeyFile, filepath.Join(home, "moved.txt"))
	mustDecrypt(t, &decrypter{}, tokenFile(t, id.Recipient().String()))

	_, _, _, err := (&decrypter{}).decrypt(tokenFile(t, newAgeKey(t).Recipient().String()), "app/token.sops.yaml")
	if err == nil || !strings.Contains(err.Error(), "$SOPS_AGE_KEY_FILE: open "+filepath.Join(home, "moved.txt")) {
		t.Errorf("want the unreadable variable named, got %v", err)
	}
	// The flag is the operator's explicit choice: a missing file stops.
	if _, _, _, err := (&decrypter{keyFile: filepath.Join(home, "missing")}).decrypt(tokenFile(t, id.Recipient().String()), "x.sops.yaml"); err == nil {
		t.Error("a missing --decryption-key-file was ignored")
	}
}

// TestSOPSKeyCmdRunsOncePerRecipient: a render with several files runs
// SOPS_AGE_KEY_CMD once for a recipient, not once a file.
func TestSOPSKeyCmdRunsOncePerRecipient(t *testing.T) {
	home := isolateKeys(t)
	id := newAgeKey(t)
	writeFile(t, filepath.Join(home, "secret-store"), id.String()+"\n")
	runs := filepath.Join(home, "runs")
	t.Setenv(sopskeys.EnvAgeKeyCmd, `sh -c 'echo run >> `+runs+` && cat `+filepath.Join(home, "secret-store")+`'`)
	d := &decrypter{}
	for range 3 {
		mustDecrypt(t, d, tokenFile(t, id.Recipient().String()))
	}
	got, err := os.ReadFile(runs)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(got), "run"); n != 1 {
		t.Errorf("SOPS_AGE_KEY_CMD ran %d times for three files of one recipient, want 1", n)
	}
}

// TestSOPSNoKeyListsWhereEnvctlLooked: a file no key opens gives an error
// that names the file and every place looked in, in order.
func TestSOPSNoKeyListsWhereEnvctlLooked(t *testing.T) {
	home := isolateKeys(t)
	other := newAgeKey(t)
	writeFile(t, filepath.Join(home, ".config", "sops", "age", "keys.txt"), other.String()+"\n")
	file := tokenFile(t, newAgeKey(t).Recipient().String())
	_, _, _, err := (&decrypter{}).decrypt(file, "app/token.sops.yaml")
	if err == nil {
		t.Fatal("a file for an unknown key decrypted")
	}
	msg := err.Error()
	want := []string{
		"app/token.sops.yaml: cannot decrypt",
		"no key was given (--decryption-key-file)",
		"$SOPS_AGE_SSH_PRIVATE_KEY_FILE (not set)",
		"$SOPS_AGE_SSH_PRIVATE_KEY_CMD (not set)",
		filepath.Join(home, ".ssh", "id_ed25519") + " (absent)",
		filepath.Join(home, ".ssh", "id_rsa") + " (absent)",
		"$SOPS_AGE_KEY (not set)",
		"$SOPS_AGE_KEY_FILE (not set)",
		"$SOPS_AGE_KEY_CMD (not set)",
		filepath.Join(home, ".config", "sops", "age", "keys.txt"),
		"no key service was asked (--sops-keyservice)",
	}
	last := -1
	for _, w := range want {
		i := strings.Index(msg, w)
		if i < 0 {
			t.Errorf("the error lacks %q:\n%s", w, msg)
			continue
		}
		if i < last {
			t.Errorf("%q is out of order in:\n%s", w, msg)
		}
		last = i
	}
	if strings.Contains(msg, other.String()) {
		t.Error("the error shows a private key")
	}
}

// TestSOPSKeyService decrypts through sops' own key service, on a loopback
// port and on a unix socket, while envctl has no key of its own.
func TestSOPSKeyService(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			isolateKeys(t)
			id := newAgeKey(t)
			srv := &sopskeystest.Server{}
			if err := srv.Identities.Import(id.String()); err != nil {
				t.Fatal(err)
			}
			addr := sopskeystest.Serve(t, srv, network)
			file := tokenFile(t, id.Recipient().String())

			if _, _, _, err := (&decrypter{}).decrypt(file, "app/token.sops.yaml"); err == nil {
				t.Fatal("envctl decrypted without a key of its own or a key service")
			}
			d := &decrypter{keyServices: []string{addr}}
			defer d.close()
			mustDecrypt(t, d, file)
			reqs := srv.Requests()
			if len(reqs) != 1 || reqs[0].GetAgeKey().GetRecipient() != id.Recipient().String() {
				t.Errorf("the key service was asked about %v, want the age recipient once", reqs)
			}
		})
	}
}

// TestSOPSKeyServiceCloudKeys: KMS and Vault keys reach the key service as
// sops' generated code reads them, and what it answers opens the file.
func TestSOPSKeyServiceCloudKeys(t *testing.T) {
	isolateKeys(t)
	file, err := os.ReadFile(filepath.Join("..", "cli", "testdata", "sops", "token.sops.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	id, err := os.ReadFile(filepath.Join("testdata", "sops", "test.agekey"))
	if err != nil {
		t.Fatal(err)
	}
	dataKey := sopskeystest.DataKey(t, file, string(id))
	const arn = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	file = sopskeystest.SetKeys(t, file, map[string][]map[string]any{
		"kms": {{"arn": arn, "role": "arn:aws:iam::111122223333:role/sops", "context": map[string]string{"team": "platform", "env": "staging"},
			"aws_profile": "ops", "enc": "kms-wrapped", "created_at": "2026-12-01T00:00:00Z"}},
		"hc_vault": {{"vault_address": "https://vault.example:8200", "engine_path": "sops", "key_name": "staging", "enc": "vault:v1:wrapped", "created_at": "2026-12-01T00:00:00Z"}},
	})
	var kms *keyservice.KmsKey
	srv := &sopskeystest.Server{Open: func(k *keyservice.Key, ciphertext []byte) ([]byte, error) {
		if v := k.GetVaultKey(); v != nil {
			if v.VaultAddress != "https://vault.example:8200" || v.EnginePath != "sops" || v.KeyName != "staging" || string(ciphertext) != "vault:v1:wrapped" {
				t.Errorf("vault key %v, ciphertext %q", v, ciphertext)
			}
			return dataKey, nil
		}
		kms = k.GetKmsKey()
		return nil, errors.New("AccessDenied")
	}}
	d := &decrypter{keyServices: []string{sopskeystest.Serve(t, srv, "tcp")}}
	defer d.close()
	mustDecrypt(t, d, file)
	if kms == nil || kms.Arn != arn || kms.Role != "arn:aws:iam::111122223333:role/sops" || kms.AwsProfile != "ops" ||
		len(kms.Context) != 2 || kms.Context["team"] != "platform" || kms.Context["env"] != "staging" {
		t.Errorf("the KMS key reached the key service as %v", kms)
	}
	if reqs := srv.Requests(); len(reqs) != 2 {
		t.Errorf("%d requests, want the KMS key then the Vault key", len(reqs))
	}
}

// TestSOPSKeyServiceDown: an unreachable key service is named in the error.
func TestSOPSKeyServiceDown(t *testing.T) {
	isolateKeys(t)
	sock := "unix://" + filepath.Join(t.TempDir(), "none.sock")
	d := &decrypter{keyServices: []string{sock}}
	defer d.close()
	_, _, _, err := d.decrypt(tokenFile(t, newAgeKey(t).Recipient().String()), "app/token.sops.yaml")
	if err == nil || !strings.Contains(err.Error(), "key service "+sock+": Unavailable") {
		t.Errorf("want the key service named as unavailable, got %v", err)
	}
}
