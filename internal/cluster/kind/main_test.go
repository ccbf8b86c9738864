package kind

import (
	"os"
	"testing"

	"github.com/envctl/envctl/internal/cluster/kind/kindtest"
)

// TestMain lets the test binary play the fake container runtime that
// kindtest installs on PATH.
func TestMain(m *testing.M) {
	kindtest.MaybeRun()
	os.Exit(m.Run())
}
