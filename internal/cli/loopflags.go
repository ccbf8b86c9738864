package cli

import (
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/drift"
	"github.com/envctl/envctl/internal/engine"
	"github.com/envctl/envctl/internal/kube"
	"github.com/envctl/envctl/internal/lease"
	"github.com/envctl/envctl/internal/loop"
	"github.com/envctl/envctl/internal/source"
	"github.com/envctl/envctl/internal/ui"
	"github.com/envctl/envctl/internal/webhook"
)

// loopOptions are the flags `envctl sync` and `envctl daemon` share.
type loopOptions struct {
	Env      string
	Interval time.Duration
	Resync   time.Duration
	Drift    string
	Listen   string
	// Policy of the loop's full reconciles.
	Policy engine.Policy
	// Flags holds the setting override flags, passed on to config.Load.
	Flags *pflag.FlagSet
	// Source says where the declared state comes from: the local
	// repository, watched for file changes, or --git, polled.
	Source sourceFlags
}

func (o *loopOptions) bind(fs *pflag.FlagSet, listen string) {
	fs.DurationVar(&o.Interval, "interval", loop.DefaultInterval, "how often to list the Git remote's refs (±10% jitter); a local directory is watched for changes instead")
	fs.DurationVar(&o.Resync, "resync", loop.DefaultResync, "how often to check every object against the watch caches again")
	fs.StringVar(&o.Drift, "drift", string(drift.Correct), "what to do about drift: correct, detect (report only) or off")
	listenHelp := "address to serve /metrics, /healthz, /readyz and POST /hooks/git on"
	if listen == "" {
		listenHelp += " (default: none)"
	}
	fs.StringVar(&o.Listen, "listen", listen, listenHelp)
	bindPolicy(fs, &o.Policy, map[string]string{
		flagForceConflicts: "take over fields owned by other field managers on full reconciles in --drift detect or off (with correct, every apply does)",
	}, flagTimeout, flagNoPrune, flagForceConflicts, flagForceRecreate)
	config.BindFlags(fs, "apply.concurrency")
	o.Source.bind(fs)
}

func (o *loopOptions) validate() error {
	if !slices.Contains(drift.Modes, drift.Mode(o.Drift)) {
		return usageError(fmt.Errorf("--drift %q: want correct, detect or off", o.Drift))
	}
	if o.Interval < time.Second {
		return usageError(fmt.Errorf("--interval must be at least 1s, got %s", o.Interval))
	}
	if o.Resync < time.Second {
		return usageError(fmt.Errorf("--resync must be at least 1s, got %s", o.Resync))
	}
	return o.Policy.Validate()
}

// newRunner assembles the loop of d's environment on client from the
// flags, and what to serve beside it. A local directory is watched for
// file changes; any other source (Git) is asked for its revision every
// --interval.
func (o *loopOptions) newRunner(f *Factory, mode string, d *engine.Declared, client *kube.Client, log *slog.Logger) (*loop.Runner, loop.ServeOptions) {
	serve := loop.ServeOptions{Listen: o.Listen, WebhookSecret: []byte(os.Getenv(webhook.SecretEnv))}
	interval := o.Interval
	if dir, ok := d.Source.(source.Dir); ok {
		interval, serve.WatchDir = 0, dir.Path // file events, not polls
	}
	env := d.Env.Name()
	opts := loop.Options{
		Environment: env,
		Load:        o.Source.loadOptions(f, d.Source, env, o.Flags, nil),
		Engine:      f.engine(client, "", ""),
		Policy:      o.Policy,
		Mode:        mode,
		Holder:      lease.Identity(mode),
		Interval:    interval,
		Resync:      o.Resync,
		Drift:       drift.Mode(o.Drift),
		OnEvent:     loop.LogEvent(log),
		Logger:      log,
	}
	return &loop.Runner{Loop: opts}, serve
}

// loopLogger is the logger of a long-running loop: the global flags'
// format (format when --log-format was not given), at info level at least,
// since the loop's log is its progress. klog and the standard logger are
// routed into it as for every command.
func loopLogger(cmd *cobra.Command, f *Factory, format string) *slog.Logger {
	if cmd.Root().PersistentFlags().Changed("log-format") {
		format = f.Global.LogFormat
	}
	logger := ui.NewLogger(f.Streams.ErrOut, max(f.Global.Verbosity, 1), format)
	useLogger(f, logger)
	return logger
}

// holderName shortens a lease holder for messages: "envctl sync (pid 7 on
// host)" stays as it is; anything else is quoted.
func holderName(h string) string {
	if strings.HasPrefix(h, "envctl ") {
		return h
	}
	return fmt.Sprintf("%q", h)
}
