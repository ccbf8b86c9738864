package cli

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/envctl/envctl/internal/syncstate"
	"github.com/envctl/envctl/internal/testenv"
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
	e.writeSOPSEnvironment()
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

// TestRenderErrorNeverQuotesADecryptedValue: a kustomization that fails in
// a way kustomize reports by quoting a field of the decrypted Secret (a
// replacement into it) is bad input whose message, in render's, apply's
// and sync's output and in sync's status record, says <redacted> instead.
func TestRenderErrorNeverQuotesADecryptedValue(t *testing.T) {
	key, err := os.ReadFile(filepath.Join("..", "render", "testdata", "sops", "test.agekey"))
	if err != nil {
		t.Fatal(err)
	}
	token, err := os.ReadFile(filepath.Join("testdata", "sops", "token.sops.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	e := newE2E(t, "sopsscrub")
	e.writeSOPSEnvironment()
	e.overlay(map[string]string{"namespace.yaml": nsYAML, "token.sops.yaml": "placeholder"}, `namespace: NS
replacements:
  - source: {kind: Namespace, fieldPath: metadata.name}
    targets:
      - select: {kind: Secret, name: token}
        fieldPaths: [stringData.token.x]
`)
	e.write("overlays/app/token.sops.yaml", string(token))
	keys := []string{"SOPS_AGE_KEY=" + string(key)}

	var outputs []string
	for _, args := range [][]string{{"render", "-vv"}, {"apply", "-vv"}} {
		p := e.start("", keys, args...)
		if code := p.wait(time.Minute); code != ExitInput {
			t.Errorf("envctl %s: exit %d, want %d", strings.Join(args, " "), code, ExitInput)
		}
		mustContain(t, "envctl "+args[0]+"'s error", p.errOut.String(), "replacement target", "<redacted>")
		outputs = append(outputs, p.out.String()+p.errOut.String())
	}

	// sync keeps running after the failed render, and records it.
	p := e.start("", keys, "sync", "-vv")
	store := &syncstate.Store{Client: testenv.Get(t).Clientset()}
	var record string
	var st syncstate.Status
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(st.LastError, "replacement target") {
		if time.Now().After(deadline) {
			t.Fatalf("sync recorded no render error within 2 minutes: %s\nstderr:\n%s", record, p.errOut.String())
		}
		time.Sleep(200 * time.Millisecond)
		if cm, err := store.Get(t.Context(), e.env); err == nil && cm != nil {
			record = fmt.Sprint(cm.Data)
			_ = json.Unmarshal([]byte(cm.Data["status.json"]), &st)
		}
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(30 * time.Second); code != ExitOK {
		t.Errorf("sync after SIGTERM: exit %d", code)
	}
	outputs = append(outputs, p.out.String()+p.errOut.String(), record)
	if !strings.Contains(st.LastError, "<redacted>") {
		t.Errorf("the status record does not show the scrubbed error: %s", st.LastError)
	}
	for i, out := range outputs {
		for _, form := range []string{sopsCanary, base64.StdEncoding.EncodeToString([]byte(sopsCanary))} {
			if strings.Contains(out, form) {
				t.Errorf("output %d (render, apply, sync, status record) shows the decrypted value:\n%s", i, out)
			}
		}
	}
}
