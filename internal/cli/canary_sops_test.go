package cli

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sopsCanary is the value of testdata/sops/token.sops.yaml, a Secret whose
// stringData the sops library encrypted for internal/render's test age key
// (internal/render/sops_fixtures_gen_test.go makes it again).
const sopsCanary = "sopscanary5f3a9c2e71d04b86"

// TestSOPSCanaryNeverShown runs an environment with a Secret from a SOPS
// file through render, diff, up, status and down with debug logging: the
// decrypted value never appears, and render shows it only when asked.
func TestSOPSCanaryNeverShown(t *testing.T) {
	key, err := os.ReadFile(filepath.Join("..", "render", "testdata", "sops", "test.agekey"))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOPS_AGE_KEY", string(key))
	t.Setenv("SOPS_AGE_KEY_FILE", "")
	token, err := os.ReadFile(filepath.Join("testdata", "sops", "token.sops.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	canary := sopsCanary

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
	e.overlay(res, "namespace: NS\n")
	e.write("overlays/app/token.sops.yaml", string(token))

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
