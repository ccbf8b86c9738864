package embedded_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/envctl/envctl/internal/testenv"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(startChildEnv); mode != "" {
		os.Exit(startChild(mode))
	}
	os.Exit(testenv.Run(m))
}

// aloneEnv marks a re-executed test binary that runs one test that starts a
// control plane of its own, which cannot share a process with the shared
// one (see the package documentation).
const aloneEnv = "ENVCTL_EMBEDDED_TEST_ALONE"

// alone re-runs the calling test in a process of its own and reports
// whether the caller is that process, which should go on with the test;
// the parent, having relayed the child's result, returns false and stops.
func alone(t *testing.T) bool {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a control plane of its own")
	}
	if os.Getenv(aloneEnv) == t.Name() {
		return true
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+regexp.QuoteMeta(t.Name())+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), aloneEnv+"="+t.Name())
	out, err := cmd.CombinedOutput()
	t.Logf("in a process of its own:\n%s", out)
	if err != nil {
		t.Fatalf("%s failed in its own process: %v", t.Name(), err)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("%s did not run in its own process", t.Name())
	}
	return false
}

// eventually polls check until it reports done, failing t after timeout
// with what check last said.
func eventually(t *testing.T, timeout time.Duration, what string, check func(ctx context.Context) (bool, string, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	last := "not checked"
	for {
		done, state, err := check(ctx)
		if err != nil {
			state = fmt.Sprintf("error: %v", err)
		}
		if done {
			return
		}
		last = state
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not within %v; last seen: %s", what, timeout, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
