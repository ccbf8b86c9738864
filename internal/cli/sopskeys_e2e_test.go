package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/envctl/envctl/internal/sopskeys"
	"github.com/envctl/envctl/internal/sopskeys/sopskeystest"
)

// TestSOPSKeysFoundWhereSopsFindsThem runs envctl processes that render a
// SOPS file encrypted for a key envctl is not told about: it fails naming
// the file and where it looked, then finds the key in sops' default keys
// file, through SOPS_AGE_KEY_CMD, and through a sops key service that holds
// it while envctl holds none.
func TestSOPSKeysFoundWhereSopsFindsThem(t *testing.T) {
	// This process's own keys must not reach envctl's.
	for _, k := range []string{"XDG_CONFIG_HOME", sopskeys.EnvAgeKey, sopskeys.EnvAgeKeyFile, sopskeys.EnvAgeKeyCmd,
		sopskeys.EnvAgeSSHPrivateKeyFile, sopskeys.EnvAgeSSHPrivateKeyCmd} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	e := newE2E(t, "sopskeys")
	e.writeSOPSEnvironment()
	e.overlay(map[string]string{"namespace.yaml": nsYAML, "token.sops.yaml": "placeholder"}, "namespace: NS\n")
	e.write("overlays/app/token.sops.yaml", string(tokenFor(t, id.Recipient().String())))
	e.processEnv()
	render := func(extra []string, args ...string) (code int, stdout, stderr string) {
		t.Helper()
		p := e.start("", extra, append([]string{"render"}, args...)...)
		code = p.wait(timeoutRun)
		return code, p.out.String(), p.errOut.String()
	}

	code, _, stderr := render(nil)
	keysTxt := filepath.Join(e.home, ".config", "sops", "age", "keys.txt")
	for _, w := range []string{"overlays/app/token.sops.yaml: cannot decrypt", "age " + id.Recipient().String(),
		"$SOPS_AGE_KEY_CMD (not set)", filepath.Join(e.home, ".ssh", "id_ed25519") + " (absent)", keysTxt + " (absent)", "--sops-keyservice"} {
		if !strings.Contains(stderr, w) {
			t.Errorf("without a key, the error lacks %q:\n%s", w, stderr)
		}
	}
	if code != ExitInput {
		t.Errorf("without a key: exit %d, want %d", code, ExitInput)
	}

	srv := &sopskeystest.Server{}
	if err := srv.Identities.Import(id.String()); err != nil {
		t.Fatal(err)
	}
	addr := sopskeystest.Serve(t, srv, "unix")
	if code, stdout, stderr := render(nil, "--sops-keyservice", addr); code != ExitOK || !strings.Contains(stdout, "<masked") {
		t.Errorf("through the key service: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if len(srv.Requests()) == 0 {
		t.Error("the key service was never asked")
	}
	if code, _, stderr := render(nil, "--sops-keyservice", "http://"+addr); code != ExitInput || !strings.Contains(stderr, "want tcp://host:port or unix:///path") {
		t.Errorf("a bad key service address: exit %d\n%s", code, stderr)
	}

	store := filepath.Join(e.home, "store")
	if err := os.WriteFile(store, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("cat"); err == nil {
		if code, _, stderr := render([]string{sopskeys.EnvAgeKeyCmd + "=cat " + store}); code != ExitOK {
			t.Errorf("with SOPS_AGE_KEY_CMD: exit %d\n%s", code, stderr)
		}
	}

	if err := os.MkdirAll(filepath.Dir(keysTxt), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keysTxt, []byte("# created by the test\n"+id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, stdout, stderr := render(nil); code != ExitOK || !strings.Contains(stdout, "<masked") {
		t.Errorf("with %s: exit %d\n%s\n%s", keysTxt, code, stdout, stderr)
	}
	if slices.ContainsFunc([]string{e.transcript.String()}, func(s string) bool { return strings.Contains(s, id.String()) }) {
		t.Error("envctl's output shows the private key")
	}
}

// tokenFor is testdata/sops/token.sops.yaml with its data key encrypted
// for recipient instead of internal/render's test key.
func tokenFor(t *testing.T, recipient string) []byte {
	t.Helper()
	file, err := os.ReadFile(filepath.Join("testdata", "sops", "token.sops.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(filepath.Join("..", "render", "testdata", "sops", "test.agekey"))
	if err != nil {
		t.Fatal(err)
	}
	dataKey := sopskeystest.DataKey(t, file, string(key))
	return sopskeystest.SetKeys(t, file, map[string][]map[string]any{
		"age": {{"recipient": recipient, "enc": sopskeystest.AgeEnc(t, recipient, dataKey)}},
	})
}
