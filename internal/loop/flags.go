package loop

import (
	"fmt"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/spf13/pflag"

	"github.com/envctl/envctl/internal/drift"
	"github.com/envctl/envctl/internal/engine"
	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/kube"
	"github.com/envctl/envctl/internal/lease"
	"github.com/envctl/envctl/internal/metrics"
	"github.com/envctl/envctl/internal/notify"
	"github.com/envctl/envctl/internal/source"
	"github.com/envctl/envctl/internal/webhook"
)

// Flags are the loop's own flags, which `envctl sync` and `envctl daemon`
// share.
type Flags struct {
	Interval time.Duration
	Resync   time.Duration
	Drift    string
	// Listeners are where the endpoints are served.
	Listeners Listeners
}

// Bind adds --interval, --resync, --drift and the listeners' flags
// (defaulted when listenDefaults) to fs.
func (l *Flags) Bind(fs *pflag.FlagSet, listenDefaults bool) {
	fs.DurationVar(&l.Interval, "interval", DefaultInterval, "how often to list the Git remote's refs (±10% jitter); a local directory is watched for changes instead")
	fs.DurationVar(&l.Resync, "resync", DefaultResync, "how often to check every object against the watch caches again")
	fs.StringVar(&l.Drift, "drift", string(drift.Correct), "what to do about drift: correct, detect (report only) or off")
	l.Listeners.Bind(fs, listenDefaults)
}

// Validate refuses a drift mode, interval or resync out of range as bad
// input.
func (l *Flags) Validate() error {
	if !slices.Contains(drift.Modes, drift.Mode(l.Drift)) {
		return errs.Input(fmt.Errorf("--drift %q: want correct, detect or off", l.Drift))
	}
	if l.Interval < time.Second {
		return errs.Input(fmt.Errorf("--interval must be at least 1s, got %s", l.Interval))
	}
	if l.Resync < time.Second {
		return errs.Input(fmt.Errorf("--resync must be at least 1s, got %s", l.Resync))
	}
	return nil
}

// NewRunner assembles the loop of environment env from the flags, with
// the caller's load options, engine and policy, and what to serve beside
// it. A local directory (src) is watched for file changes; any other
// source (Git) is asked for its revision every --interval.
func (l *Flags) NewRunner(mode, env string, src source.Source, load engine.LoadOptions, eng *engine.Engine, policy engine.Policy, log *slog.Logger) (*Runner, ServeOptions) {
	serve := ServeOptions{Listeners: l.Listeners, WebhookSecret: []byte(os.Getenv(webhook.SecretEnv))}
	interval := l.Interval
	if dir, ok := src.(source.Dir); ok {
		interval, serve.WatchDir = 0, dir.Path // file events, not polls
	}
	opts := Options{
		Environment: env,
		Load:        load,
		Engine:      eng,
		Policy:      policy,
		Mode:        mode,
		Holder:      lease.Identity(mode),
		Interval:    interval,
		Resync:      l.Resync,
		Drift:       drift.Mode(l.Drift),
		OnEvent:     LogEvent(log),
		Logger:      log,
	}
	return &Runner{Loop: opts}, serve
}

// StartNotify gives the runner's loop its notifications (ns, and the
// Events and repeat of nf) and metrics; the returned func delivers what
// is queued (for two seconds at most) and stops them.
func (r *Runner) StartNotify(ns []notify.Notifier, nf *notify.Flags, client *kube.Client, log *slog.Logger) func() {
	m := metrics.New(r.Loop.Environment)
	hub := notify.Setup{
		Notifiers: ns, Events: nf.Events, Repeat: nf.Repeat,
		Client: client.Clientset, Environment: r.Loop.Environment, Holder: r.Loop.Holder,
		Count: m.Notified, Logger: log,
	}.Start()
	r.Loop.Metrics, r.Loop.Notify = m, hub
	// Within the ten seconds a stop may take, after the loop's own grace.
	return func() { hub.Close(2 * time.Second) }
}
