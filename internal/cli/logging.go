package cli

import (
	"context"
	"io"
	"log/slog"
	"strings"
)

func newLogger(w io.Writer, g *GlobalOptions) *slog.Logger {
	level := slog.LevelWarn
	switch {
	case g.Verbosity >= 2:
		level = slog.LevelDebug
	case g.Verbosity == 1:
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if g.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// klogHandler lowers what client-go logs through klog: its errors are
// mostly transient watch and retry failures that envctl handles itself and
// reports in its own words, so they show with -v, and its info lines only
// with -vv. Verbose lines (klog V(n), which arrive below slog's debug level)
// are never raised: client-go logs request and response bodies, Secret data
// included, at high verbosity.
type klogHandler struct{ next slog.Handler }

func (h klogHandler) level(l slog.Level) slog.Level {
	switch {
	case l >= slog.LevelError:
		return slog.LevelInfo
	case l > slog.LevelDebug:
		return slog.LevelDebug
	default:
		return l
	}
}

func (h klogHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, h.level(l))
}

func (h klogHandler) Handle(ctx context.Context, r slog.Record) error {
	r.Level = h.level(r.Level)
	// logr hands errors on without asking Enabled first.
	if !h.next.Enabled(ctx, r.Level) {
		return nil
	}
	return h.next.Handle(ctx, r)
}

func (h klogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return klogHandler{h.next.WithAttrs(attrs)}
}

func (h klogHandler) WithGroup(name string) slog.Handler {
	return klogHandler{h.next.WithGroup(name)}
}

// slogWriter turns lines written through the standard log package into
// debug records.
type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.l.Debug(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
