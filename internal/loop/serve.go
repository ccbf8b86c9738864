package loop

import (
	"context"
	"log/slog"
	"time"

	"github.com/envctl/envctl/internal/engine"
	"github.com/envctl/envctl/internal/metrics"
	"github.com/envctl/envctl/internal/ui"
	"github.com/envctl/envctl/internal/webhook"
)

// shutdownTimeout bounds the requests in flight when Serve stops.
const shutdownTimeout = 2 * time.Second

// ServeOptions say what Serve runs beside the loop.
type ServeOptions struct {
	// Listen is the address to serve /metrics, /healthz, /readyz and POST
	// /hooks/git on; "" serves nothing.
	Listen string
	// WebhookSecret authenticates POST /hooks/git; empty refuses every
	// request.
	WebhookSecret []byte
	// WatchDir, when set, is a local source whose file changes trigger the
	// loop.
	WatchDir string
}

// Serve runs the loop as Run does, until ctx ends, with its endpoints
// served and its local source watched as o says.
func (r *Runner) Serve(ctx context.Context, o ServeOptions) error {
	log := r.Loop.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if r.Loop.Metrics == nil {
		// The endpoints serve the loop's own instruments.
		r.Loop.Metrics = metrics.New(r.Loop.Environment)
	}
	if o.Listen != "" {
		m := r.Loop.Metrics
		hook := &webhook.Handler{
			Secret:  o.WebhookSecret,
			Trigger: r.Trigger,
			Count:   func(result string) { m.Webhooks.WithLabelValues(result).Inc() },
			Logger:  log,
		}
		if len(hook.Secret) == 0 {
			log.Warn("POST /hooks/git refuses every request: " + webhook.SecretEnv + " is not set")
		}
		srv, err := Listen(o.Listen, Handler(r, m, hook), log)
		if err != nil {
			return err
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
	}
	if o.WatchDir != "" {
		changed := func() {
			if l := r.Current(); l != nil {
				l.FilesChanged()
			}
		}
		if err := WatchFiles(ctx, o.WatchDir, DefaultDebounce, changed, log); err != nil {
			return err
		}
	}
	return r.Run(ctx)
}

// LogEvent logs the steps of a full reconcile that a person following a
// sync wants to see: what each component did, prune, and failures.
func LogEvent(log *slog.Logger) func(engine.Event) {
	return func(e engine.Event) {
		switch e.Type {
		case engine.ComponentDone:
			attrs := []any{"component", e.Component, "state", string(e.State), "objects", ui.CountsText(e.Counts)}
			if e.Err != nil {
				log.Warn("component done", append(attrs, "err", ui.FirstLine(e.Err.Error()))...)
				return
			}
			log.Info("component done", attrs...)
		case engine.ObjectPruned:
			log.Info("pruned", "object", e.Object, "outcome", e.Action)
		case engine.RenderFailed:
			log.Warn("render failed", "err", ui.FirstLine(ui.ErrString(e.Err)))
		}
	}
}
