package cli

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/getsops/sops/v3"
	"github.com/getsops/sops/v3/aes"
	sopsage "github.com/getsops/sops/v3/age"
	sopsconfig "github.com/getsops/sops/v3/config"
	sopsyaml "github.com/getsops/sops/v3/stores/yaml"
)

// sopsEncryptYAML encrypts a YAML document's data and stringData for an
// age recipient, as `sops --encrypt --encrypted-regex '^(data|stringData)$'`.
func sopsEncryptYAML(t *testing.T, plain, recipient string) string {
	t.Helper()
	st := sopsyaml.NewStore(&sopsconfig.YAMLStoreConfig{})
	branches, err := st.LoadPlainFile([]byte(plain))
	if err != nil {
		t.Fatal(err)
	}
	mk, err := sopsage.MasterKeyFromRecipient(recipient)
	if err != nil {
		t.Fatal(err)
	}
	dataKey := make([]byte, 32)
	rand.Read(dataKey)
	if err := mk.Encrypt(dataKey); err != nil {
		t.Fatal(err)
	}
	tree := sops.Tree{Branches: branches, Metadata: sops.Metadata{
		KeyGroups: []sops.KeyGroup{{mk}}, EncryptedRegex: "^(data|stringData)$", Version: "3.13.3"}}
	cipher := aes.NewCipher()
	mac, err := tree.Encrypt(dataKey, cipher)
	if err != nil {
		t.Fatal(err)
	}
	tree.Metadata.LastModified = time.Now().UTC()
	if tree.Metadata.MessageAuthenticationCode, err = cipher.Encrypt(mac, dataKey, tree.Metadata.LastModified.Format(time.RFC3339)); err != nil {
		t.Fatal(err)
	}
	out, err := st.EmitEncryptedFile(tree)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// TestSOPSCanaryNeverShown runs an environment with a Secret from a SOPS
// file through render, diff, up, status and down with debug logging: the
// decrypted value never appears, and render shows it only when asked.
func TestSOPSCanaryNeverShown(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOPS_AGE_KEY", id.String())
	t.Setenv("SOPS_AGE_KEY_FILE", "")
	b := make([]byte, 8)
	rand.Read(b)
	canary := "sopscanary" + hex.EncodeToString(b)

	e := newE2E(t, "sopscanary")
	e.write("environments/sopscanary.yaml", `apiVersion: envctl.dev/v1alpha1
kind: Environment
metadata:
  name: sopscanary
spec:
  cluster:
    provider: existing
    existing:
      kubeconfig: `+e.kubeconfig+`
  components:
    - name: app
      kustomize: overlays/app
      decryption: {provider: sops}
`)
	res := baseResources()
	res["token.sops.yaml"] = "placeholder"
	e.overlay(res, "")
	e.write("overlays/app/token.sops.yaml", sopsEncryptYAML(t, "apiVersion: v1\nkind: Secret\nmetadata:\n  name: token\n  namespace: "+e.ns+"\nstringData:\n  token: "+canary+"\n", id.Recipient().String()))

	stdout, _ := e.mustRun(ExitOK, "render", "-vv")
	if !strings.Contains(stdout, "kind: Secret") || !strings.Contains(stdout, "<masked") {
		t.Errorf("render does not show the Secret masked:\n%s", stdout)
	}
	e.mustRun(ExitOK, "render", "-o", "json", "-vv")
	e.mustRun(diffExitChanges, "diff", "-vv")
	e.mustRun(ExitOK, "up", "-vv")
	e.mustRun(diffExitNoChanges, "diff", "-vv")
	e.mustRun(ExitOK, "status", "-vv")
	e.mustRun(ExitOK, "down", "--yes", "-vv")

	// Asked for, render shows it (outside the transcript).
	var out, errOut strings.Builder
	if code := Main([]string{"--repo", e.repo, "render", "--show-secrets"}, IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}); code != ExitOK {
		t.Fatalf("render --show-secrets: exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), canary) {
		t.Error("render --show-secrets does not show the decrypted value")
	}

	transcript := e.transcript.String()
	if !strings.Contains(transcript, "level=DEBUG") || !strings.Contains(transcript, "decrypted a SOPS file") {
		t.Fatalf("the transcript has no debug logs of the decryption; the check would prove nothing:\n%s", transcript)
	}
	for _, form := range []string{canary, base64.StdEncoding.EncodeToString([]byte(canary))} {
		if i := strings.Index(transcript, form); i >= 0 {
			lo, hi := max(0, i-300), min(len(transcript), i+len(form)+100)
			t.Errorf("a decrypted value (%q) appears in envctl's output:\n...%s...", form, transcript[lo:hi])
		}
	}
}
