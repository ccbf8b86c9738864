package kind

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"unicode"

	kindlog "sigs.k8s.io/kind/pkg/log"

	"github.com/envctl/envctl/internal/cluster"
)

// logger adapts kind's logger to slog, and turns kind's status lines
// (" • Preparing nodes 📦  ...", " ✓ Preparing nodes 📦") into steps of
// envctl's progress, so that a kind cluster's creation reads like the rest
// of envctl's output.
type logger struct {
	log *slog.Logger

	mu       sync.Mutex
	progress cluster.Progress
	done     func(error)
	// step is kind's step under way, or the last one it began.
	step string
}

// current is kind's step under way, for a message that says where a slow
// create is.
func (l *logger) current() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.step == "" {
		return "its start"
	}
	return l.step
}

var _ kindlog.Logger = (*logger)(nil)

func newLogger(log *slog.Logger, progress cluster.Progress) *logger {
	return &logger{log: log, progress: progress}
}

// detach stops forwarding to progress, ending a step kind left open as
// failed. Create runs in a goroutine that may outlive the caller after a
// timeout; it must not print into output the caller has moved on from.
func (l *logger) detach() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done != nil {
		l.done(errors.New("interrupted"))
	}
	l.progress = nil
	l.done = nil
}

// status handles one status line; it reports whether msg was one.
func (l *logger) status(msg string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case strings.HasPrefix(msg, " • "):
		l.step = clean(strings.TrimSuffix(strings.TrimRight(msg[len(" • "):], "\n"), "  ..."))
		if l.progress != nil {
			l.done = l.progress.Step(l.step)
		}
	case strings.HasPrefix(msg, " ✓ "), strings.HasPrefix(msg, " ✗ "):
		if l.done != nil {
			var err error
			if strings.HasPrefix(msg, " ✗ ") {
				err = fmt.Errorf("kind: %s failed", clean(msg[len(" ✗ "):]))
			}
			l.done(err)
			l.done = nil
		}
	default:
		return false
	}
	return true
}

// clean drops the emoji kind decorates its steps with.
func clean(s string) string {
	return strings.TrimRightFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || r > unicode.MaxLatin1 && !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}

func (l *logger) Warn(message string)                      { l.log.Warn(message, "source", "kind") }
func (l *logger) Warnf(format string, args ...any)         { l.Warn(fmt.Sprintf(format, args...)) }
func (l *logger) Error(message string)                     { l.log.Error(message, "source", "kind") }
func (l *logger) Errorf(format string, args ...any)        { l.Error(fmt.Sprintf(format, args...)) }
func (l *logger) V(level kindlog.Level) kindlog.InfoLogger { return infoLogger{l: l, level: level} }

// infoLogger is kind's logger at one verbosity: level 0 is kind's
// user-facing output, which envctl logs at Info; higher levels at Debug.
type infoLogger struct {
	l     *logger
	level kindlog.Level
}

func (i infoLogger) Info(message string) {
	if i.level == 0 && i.l.status(message) {
		return
	}
	lvl := slog.LevelInfo
	if i.level > 0 {
		lvl = slog.LevelDebug
	}
	i.l.log.Log(context.Background(), lvl, strings.TrimSpace(message), "source", "kind")
}

func (i infoLogger) Infof(format string, args ...any) { i.Info(fmt.Sprintf(format, args...)) }

func (i infoLogger) Enabled() bool {
	if i.level == 0 {
		return true
	}
	return i.l.log.Enabled(context.Background(), slog.LevelDebug)
}
