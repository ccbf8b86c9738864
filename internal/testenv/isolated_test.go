package testenv_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/envctl/envctl/internal/testenv"
)

// isolatedProbeEnv makes this test binary's TestMain call RunIsolated, for
// TestIsolatedFailsUnderCIWithoutANamespace.
const isolatedProbeEnv = "ENVCTL_TESTENV_ISOLATED_PROBE"

// TestIsolatedProbe asks for the cluster; it runs only as the child of
// TestIsolatedFailsUnderCIWithoutANamespace.
func TestIsolatedProbe(t *testing.T) {
	if os.Getenv(isolatedProbeEnv) != "1" {
		t.Skip("runs only as the child of TestIsolatedFailsUnderCIWithoutANamespace")
	}
	testenv.Get(t)
}

// A package of RunIsolated on a machine where no network namespace can be
// made (here: unshare is not on PATH) skips its cluster tests, and fails
// instead when CI is set.
func TestIsolatedFailsUnderCIWithoutANamespace(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the test binary again")
	}
	run := func(ci string) (int, string) {
		t.Helper()
		cmd := exec.Command(os.Args[0], "-test.run=^TestIsolatedProbe$", "-test.v", "-test.count=1")
		var env []string
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "CI=") && !strings.HasPrefix(kv, "PATH=") && !strings.HasPrefix(kv, "ENVCTL_TESTENV_NETNS=") {
				env = append(env, kv)
			}
		}
		cmd.Env = append(env, isolatedProbeEnv+"=1", "PATH="+t.TempDir())
		if ci != "" {
			cmd.Env = append(cmd.Env, "CI="+ci)
		}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatal(err)
		}
		return cmd.ProcessState.ExitCode(), out.String()
	}
	code, out := run("")
	if code != 0 || !strings.Contains(out, "--- SKIP: TestIsolatedProbe") || !strings.Contains(out, "unshare is not installed") {
		t.Errorf("without CI: exit %d, want 0 and the test skipped saying why:\n%s", code, out)
	}
	code, out = run("true")
	if code == 0 || !strings.Contains(out, "CI=true is set, so this fails instead of skipping") || strings.Contains(out, "--- SKIP") {
		t.Errorf("under CI: exit %d, want a failure naming CI and no skip:\n%s", code, out)
	}
}
