package engine

import (
	"os"
	"testing"

	"k8s.io/client-go/rest"

	"github.com/envctl/envctl/internal/testenv"
)

// TestMain shares one embedded control plane among the package's
// integration tests and benchmarks; unit tests do not start it. Run as a
// child of BenchmarkUpCI, the binary does that benchmark's work instead.
func TestMain(m *testing.M) {
	if os.Getenv(upChildEnv) != "" {
		os.Exit(upCIChild())
	}
	os.Exit(testenv.Run(m))
}

func testConfig(t testing.TB) *rest.Config { return testenv.Get(t).RESTConfig() }

func testNamespace(t testing.TB) string { return testenv.Get(t).Namespace(t) }
