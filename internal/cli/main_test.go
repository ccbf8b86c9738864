package cli

import (
	"os"
	"testing"

	"github.com/envctl/envctl/internal/testenv"
)

// TestMain starts one embedded control plane for the package's end-to-end
// tests (none under -short); each test gets its own environment and
// namespace in it.
func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }
