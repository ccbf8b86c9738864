package loop

import (
	"context"
	"log/slog"
	"net/http"
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
	// Listeners are where /metrics, /healthz, /readyz and POST /hooks/git
	// are served; the zero value serves nothing.
	Listeners Listeners
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
	servers, err := r.listen(o, log)
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		for _, srv := range servers {
			_ = srv.Shutdown(sctx)
		}
	}()
	if err != nil {
		return err
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

// listen starts the servers o.Listeners ask for; those it started come
// back with an error.
func (r *Runner) listen(o ServeOptions, log *slog.Logger) ([]*Server, error) {
	l := o.Listeners
	if err := l.Validate(); err != nil {
		return nil, err
	}
	m := r.Loop.Metrics
	hook := &webhook.Handler{
		Secret:  o.WebhookSecret,
		Trigger: r.Trigger,
		Count:   func(result string) { m.Webhooks.WithLabelValues(result).Inc() },
		Logger:  log,
	}
	if (l.Webhook != "" || l.All != "") && len(hook.Secret) == 0 {
		log.Warn("POST /hooks/git refuses every request: " + webhook.SecretEnv + " is not set")
	}
	var servers []*Server
	start := func(s *Server, err error) error {
		if s != nil {
			servers = append(servers, s)
		}
		return err
	}
	useTLS := l.WebhookTLSCert != ""
	serveHook := func(flag, addr, what string, h http.Handler) error {
		if useTLS {
			return start(ListenTLS(flag, addr, what, h, l.WebhookTLSCert, l.WebhookTLSKey, log))
		}
		return start(Listen(flag, addr, what, h, log))
	}
	if l.All != "" {
		return servers, serveHook("--listen", l.All, "/metrics, /healthz, /readyz and POST /hooks/git", Handler(r, m, hook))
	}
	if l.Metrics != "" {
		if err := start(Listen("--metrics-addr", l.Metrics, "/metrics", MetricsHandler(m), log)); err != nil {
			return servers, err
		}
	}
	if l.Health != "" {
		if err := start(Listen("--health-addr", l.Health, "/healthz and /readyz", HealthHandler(r), log)); err != nil {
			return servers, err
		}
	}
	if l.Webhook != "" {
		if err := serveHook("--webhook-addr", l.Webhook, "POST /hooks/git", WebhookHandler(hook)); err != nil {
			return servers, err
		}
	}
	return servers, nil
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
