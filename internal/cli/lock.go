package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/client-go/kubernetes"

	"github.com/envctl/envctl/internal/lease"
	"github.com/envctl/envctl/internal/testhook"
)

// defaultLockTimeout is how long a command waits, by default, for another
// envctl that is writing the same environment.
const defaultLockTimeout = 2 * time.Minute

// bindLockTimeout adds --lock-timeout, shared by the commands that write an
// environment.
func bindLockTimeout(fs *pflag.FlagSet, p *time.Duration) {
	fs.DurationVar(p, "lock-timeout", defaultLockTimeout,
		"how long to wait for another envctl writing this environment to finish (0: do not wait)")
}

func checkLockTimeout(d time.Duration) error {
	if d < 0 {
		return usageError(fmt.Errorf("--lock-timeout must not be negative, got %s", d))
	}
	return nil
}

// lockEnvironment takes env's lock for command, waiting up to timeout,
// with its messages on the error stream (see lease.Hold). The lock of a
// process that is killed expires after lease.DefaultDuration.
func lockEnvironment(ctx context.Context, f *Factory, client kubernetes.Interface, env, command string, timeout time.Duration) (context.Context, *lease.Holding, error) {
	return lease.Hold(ctx, client, env, lease.Options{
		Holder: lease.Identity(command),
		Wait:   timeout,
		Logger: f.Logger,
		// lease.DefaultDuration, but in envctl's own tests.
		Duration: testhook.LeaseDuration(),
	}, f.Streams.ErrOut)
}
