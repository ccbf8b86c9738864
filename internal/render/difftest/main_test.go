package difftest

import (
	"os"
	"testing"

	"github.com/envctl/envctl/internal/testenv"
)

// TestMain provides the embedded API server; never started under -short.
func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }
