package cli

import (
	"os"
	"testing"

	"github.com/envctl/envctl/internal/cluster/kind/kindtest"
	"github.com/envctl/envctl/internal/testenv"
)

// asCLIEnv makes the test binary act as envctl, for the tests that need
// envctl as a process of its own (signals, SIGKILL at a phase, a cluster
// served by a detached process).
const asCLIEnv = "ENVCTL_TEST_AS_CLI"

// TestMain starts one embedded control plane for the package's end-to-end
// tests (none under -short); each test gets its own environment and
// namespace in it. Run with ENVCTL_TEST_AS_CLI=1, the binary is envctl.
func TestMain(m *testing.M) {
	kindtest.MaybeRun()
	if os.Getenv(asCLIEnv) == "1" {
		os.Exit(Main(os.Args[1:], StdStreams()))
	}
	os.Exit(testenv.Run(m))
}
