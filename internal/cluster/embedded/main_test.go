package embedded_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/envctl/envctl/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

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
