package render

import (
	"os"
	"testing"

	"github.com/envctl/envctl/internal/testenv"
)

// TestMain provides the embedded API server for the chart lookup test; it
// starts only when that test runs, and never under -short.
func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }
