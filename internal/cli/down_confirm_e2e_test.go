package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/envctl/envctl/internal/ui"
)

// down lists what it will delete and asks; without a terminal it needs
// --yes; --dry-run only lists.
func TestDownAsksFirst(t *testing.T) {
	e := newE2E(t, "asks")
	e.overlay(map[string]string{"ns.yaml": nsYAML, "a1.yaml": cmYAML("a1"), "a2.yaml": cmYAML("a2"), "svc.yaml": serviceYAML}, "")
	e.mustRun(ExitOK, "apply")

	// No terminal, no --yes: the list, a refusal, nothing deleted.
	_, stderr, code := e.run("down")
	if code != ExitInput {
		t.Errorf("down without --yes or a terminal: exit %d, want %d", code, ExitInput)
	}
	mustContain(t, "down", stderr, "2  ConfigMap", "1  Namespace", "1  Service", "in namespaces "+e.ns, "--yes")
	if !e.configMapExists("a1") {
		t.Fatal("down without --yes deleted")
	}

	// --dry-run: the list on stdout, exit 0, nothing deleted.
	stdout, _ := e.mustRun(ExitOK, "down", "--dry-run")
	mustContain(t, "down --dry-run", stdout, "4 objects in all", "2  ConfigMap", e.ns)
	stdout, _ = e.mustRun(ExitOK, "down", "--dry-run", "-o", "json")
	var p ui.DownPlan
	if err := json.Unmarshal([]byte(stdout), &p); err != nil || p.Objects != 4 || len(p.Kinds) != 3 {
		t.Errorf("down --dry-run -o json: %+v, %v\n%s", p, err, stdout)
	}
	if !e.configMapExists("a1") {
		t.Fatal("down --dry-run deleted")
	}

	// On a terminal: asked; "n" deletes nothing, "y" everything.
	ask := func(answer string) (string, int) {
		var out, errOut bytes.Buffer
		code := Main([]string{"--repo", e.repo, "down", "--kubeconfig", e.kubeconfig},
			IOStreams{In: strings.NewReader(answer), Out: &out, ErrOut: &errOut, InTTY: true, ErrTTY: true})
		t.Logf("down answering %q: exit %d\n%s%s", answer, code, out.String(), errOut.String())
		return errOut.String(), code
	}
	stderr, code = ask("n\n")
	if code != ExitInput || !e.configMapExists("a1") {
		t.Fatalf("answered no: exit %d, a1 exists %v", code, e.configMapExists("a1"))
	}
	mustContain(t, "the question", stderr, "Delete them? [y/N]")
	if _, code = ask("y\n"); code != ExitOK {
		t.Fatalf("answered yes: exit %d", code)
	}
	if got := ourObjects(t, e.env); len(got) != 0 {
		t.Errorf("left after a confirmed down: %v", got)
	}
}
