package cli

import (
	"strings"
	"testing"
)

// The Kubernetes packages linked in for the embedded control plane register
// flags globally; none of them may show up on envctl's command line.
func TestRootFlagsAreOurOwn(t *testing.T) {
	code, out, _ := runCLI(t, "--help")
	if code != ExitOK {
		t.Fatalf("--help exit %d", code)
	}
	for _, foreign := range []string{"version[=true]", "--log-flush-frequency", "--feature-gates", "--vmodule"} {
		if strings.Contains(out, foreign) {
			t.Errorf("envctl --help lists a foreign flag %q:\n%s", foreign, out)
		}
	}
	code, out, _ = runCLI(t, "--version")
	if code != ExitOK || !strings.HasPrefix(out, "envctl ") {
		t.Errorf("--version = %d %q, want exit 0 and 'envctl VERSION'", code, out)
	}
}

func TestUnknownCommandIsUsageError(t *testing.T) {
	code, _, errOut := runCLI(t, "frobnicate")
	if code != ExitInput {
		t.Errorf("unknown command exit %d, want %d (stderr %q)", code, ExitInput, errOut)
	}
}
