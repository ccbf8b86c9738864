package ui

import (
	"context"
	"io"
	"log"
	"log/slog"
	"strings"

	"k8s.io/klog/v2"
)

// NewLogger is a command's logger on w: warnings and errors by default,
// info with verbosity 1 (-v), debug from 2 (-vv); format is text or json.
func NewLogger(w io.Writer, verbosity int, format string) *slog.Logger {
	level := slog.LevelWarn
	switch {
	case verbosity >= 2:
		level = slog.LevelDebug
	case verbosity == 1:
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// KlogHandler lowers what client-go logs through klog before next sees
// it: its errors are mostly transient watch and retry failures that envctl
// handles itself and reports in its own words, so they show with -v, and
// its info lines only with -vv. Verbose lines (klog V(n), which arrive
// below slog's debug level) are never raised: client-go logs request and
// response bodies, Secret data included, at high verbosity.
func KlogHandler(next slog.Handler) slog.Handler { return klogHandler{next} }

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

// LogWriter turns lines written through the standard log package (Helm
// and kustomize warn that way) into debug records of l.
func LogWriter(l *slog.Logger) io.Writer { return logWriter{l} }

type logWriter struct{ l *slog.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	w.l.Debug(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// RouteLogs routes klog and the standard library's log package (through
// which Helm and kustomize warn) into logger, so that they obey -v.
func RouteLogs(logger *slog.Logger) {
	klog.SetSlogLogger(slog.New(KlogHandler(logger.Handler())))
	log.SetFlags(0)
	log.SetOutput(LogWriter(logger))
}
