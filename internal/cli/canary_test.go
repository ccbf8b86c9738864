package cli

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
)

// TestSecretCanaryNeverShown runs an environment whose Secret holds a unique
// value through every command, with debug logging on, and checks that the
// value never appears in anything envctl wrote: not in diffs (a changed
// value included), status, summaries, logs, or the errors of an apply that
// fails next to the Secret.
func TestSecretCanaryNeverShown(t *testing.T) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	canary := "canary" + hex.EncodeToString(b)
	rotated, broken := canary+"rotated", canary+"broken"

	e := newE2E(t, "canary")
	secretGen := func(value string) string {
		return `secretGenerator:
  - name: db
    namespace: NS
    literals:
      - password=` + value + `
      - user=admin
generatorOptions:
  disableNameSuffixHash: true
`
	}
	e.overlay(baseResources(), secretGen(canary))

	e.mustRun(diffExitChanges, "diff", "-vv")
	e.mustRun(ExitOK, "up", "-vv")
	e.mustRun(diffExitNoChanges, "diff", "-vv")
	e.mustRun(ExitOK, "status", "-vv")
	e.mustRun(ExitOK, "status", "-o", "json", "-vv")

	// The value changes: the diff says so, and shows neither value.
	e.overlay(baseResources(), secretGen(rotated))
	stdout, _ := e.mustRun(diffExitChanges, "diff", "-vv")
	if !strings.Contains(stdout, "password: (sensitive value changed)") {
		t.Errorf("the diff does not show that the password changed:\n%s", stdout)
	}
	e.mustRun(diffExitChanges, "diff", "-o", "json", "-vv", "--log-format", "json")
	e.mustRun(ExitOK, "apply", "-o", "json", "-vv")

	// A failing apply next to the Secret: an invalid Service, and a second
	// Secret whose data is not base64 (the server's message about it could
	// quote the value).
	res := baseResources()
	res["service.yaml"] = strings.Replace(serviceYAML, "  ports:", "  type: NoSuchType\n  ports:", 1)
	res["bad-secret.yaml"] = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: raw\n  namespace: NS\ndata:\n  token: \"" + broken + "!\"\n"
	e.overlay(res, secretGen(broken))
	if _, _, code := e.run("apply", "-vv"); code == ExitOK {
		t.Error("the apply with invalid objects succeeded")
	}
	if _, _, code := e.run("diff", "-vv"); code != diffExitError {
		t.Errorf("diff of invalid objects: exit %d, want %d", code, diffExitError)
	}
	e.run("status", "-vv")

	e.overlay(baseResources(), secretGen(rotated))
	e.mustRun(ExitOK, "down", "--yes", "-vv")

	transcript := e.transcript.String()
	if !strings.Contains(transcript, "level=DEBUG") || !strings.Contains(transcript, "Secret") {
		t.Fatalf("the transcript has no debug logs or no mention of the Secret; the check would prove nothing:\n%s", transcript)
	}
	for _, v := range []string{canary, rotated, broken} {
		for _, form := range []string{v, base64.StdEncoding.EncodeToString([]byte(v)), base64.StdEncoding.EncodeToString([]byte("password=" + v))} {
			if i := strings.Index(transcript, form); i >= 0 {
				lo, hi := max(0, i-300), min(len(transcript), i+len(form)+100)
				t.Errorf("a secret value (%q) appears in envctl's output:\n...%s...", form, transcript[lo:hi])
			}
		}
	}
}
