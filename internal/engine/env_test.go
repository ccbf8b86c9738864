package engine

import (
	"os"
	"testing"

	"k8s.io/client-go/rest"

	"github.com/envctl/envctl/internal/testenv"
)

// TestMain shares one embedded control plane among the package's
// integration tests and benchmarks; unit tests do not start it.
func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

func testConfig(t testing.TB) *rest.Config { return testenv.Get(t).RESTConfig() }

func testNamespace(t testing.TB) string { return testenv.Get(t).Namespace(t) }
