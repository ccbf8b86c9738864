package lease

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/client-go/kubernetes"

	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/testhook"
)

// DefaultCommandWait is how long a command waits, by default, for another
// envctl that is writing the same environment.
const DefaultCommandWait = 2 * time.Minute

// BindLockTimeout adds --lock-timeout, shared by the commands that write
// an environment.
func BindLockTimeout(fs *pflag.FlagSet, p *time.Duration) {
	fs.DurationVar(p, "lock-timeout", DefaultCommandWait,
		"how long to wait for another envctl writing this environment to finish (0: do not wait)")
}

// CheckLockTimeout refuses a negative --lock-timeout as bad input.
func CheckLockTimeout(d time.Duration) error {
	if d < 0 {
		return errs.Input(fmt.Errorf("--lock-timeout must not be negative, got %s", d))
	}
	return nil
}

// HoldCommand takes env's lock for command, waiting up to wait, with its
// messages on out (see Hold). The lock of a process that is killed expires
// after DefaultDuration.
func HoldCommand(ctx context.Context, client kubernetes.Interface, env, command string, wait time.Duration, logger *slog.Logger, out io.Writer) (context.Context, *Holding, error) {
	return Hold(ctx, client, env, Options{
		Holder: Identity(command),
		Wait:   wait,
		Logger: logger,
		// DefaultDuration, but in envctl's own tests.
		Duration: testhook.LeaseDuration(),
	}, out)
}
