package embedded

import (
	"context"
	"log/slog"
	"sync"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"k8s.io/klog/v2"
)

// The Kubernetes components log at klog's level 0 what an operator of a
// production control plane wants to see, and report as errors the transient
// conflicts and retries of every start; for a developer who asked for an
// environment, all of it is noise. So the bridge demotes everything: klog
// errors become slog debug, klog info goes below debug (and verbosity V(n)
// n steps lower still). The control plane's own failures are reported by
// this package, not through klog.
const (
	klogErrorAs   = slog.LevelDebug
	klogInfoShift = slog.LevelDebug - 4 - slog.LevelInfo
)

// demoteHandler lowers the level of every record before passing it on.
type demoteHandler struct {
	next slog.Handler
}

func (h demoteHandler) demote(l slog.Level) slog.Level {
	if l >= slog.LevelError {
		return klogErrorAs
	}
	return l + klogInfoShift
}

func (h demoteHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, h.demote(l))
}

func (h demoteHandler) Handle(ctx context.Context, r slog.Record) error {
	r.Level = h.demote(r.Level)
	// logr passes errors on without asking Enabled first.
	if !h.next.Enabled(ctx, r.Level) {
		return nil
	}
	return h.next.Handle(ctx, r)
}

func (h demoteHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return demoteHandler{next: h.next.WithAttrs(attrs)}
}

func (h demoteHandler) WithGroup(name string) slog.Handler {
	return demoteHandler{next: h.next.WithGroup(name)}
}

var klogOnce sync.Once

// bridgeKlog routes klog, which every Kubernetes component logs through, into
// logger. klog is process-global, so the first control plane's logger wins.
func bridgeKlog(logger *slog.Logger) {
	klogOnce.Do(func() {
		klog.SetSlogLogger(slog.New(demoteHandler{next: logger.With("component", "kubernetes").Handler()}))
	})
}

// zapCore forwards etcd's zap logging to slog, demoted the same way: etcd
// warns about slow disks and leader changes that a single-member cluster on
// a laptop sees routinely.
type zapCore struct {
	logger *slog.Logger
	fields []zapcore.Field
}

func newEtcdLogger(logger *slog.Logger) *zap.Logger {
	return zap.New(&zapCore{logger: logger.With("component", "etcd")})
}

func (c *zapCore) level(l zapcore.Level) slog.Level {
	switch {
	case l >= zapcore.ErrorLevel:
		return slog.LevelDebug
	case l >= zapcore.WarnLevel:
		return slog.LevelDebug - 4
	default:
		return slog.LevelDebug - 8
	}
}

func (c *zapCore) Enabled(l zapcore.Level) bool {
	return c.logger.Enabled(context.Background(), c.level(l))
}

func (c *zapCore) With(fields []zapcore.Field) zapcore.Core {
	return &zapCore{logger: c.logger, fields: append(append([]zapcore.Field(nil), c.fields...), fields...)}
}

func (c *zapCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *zapCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range c.fields {
		f.AddTo(enc)
	}
	for _, f := range fields {
		f.AddTo(enc)
	}
	attrs := make([]slog.Attr, 0, len(enc.Fields))
	for k, v := range enc.Fields {
		attrs = append(attrs, slog.Any(k, v))
	}
	c.logger.LogAttrs(context.Background(), c.level(e.Level), e.Message, attrs...)
	return nil
}

func (c *zapCore) Sync() error { return nil }
