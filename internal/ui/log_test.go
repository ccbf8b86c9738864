package ui

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// client-go logs request bodies (Secret data included) through klog at high
// verbosity; whatever -v says, those lines must not come out.
func TestKlogHandlerLevels(t *testing.T) {
	tests := []struct {
		name      string
		verbosity int
		level     slog.Level
		want      bool
	}{
		{name: "error hidden by default", verbosity: 0, level: slog.LevelError, want: false},
		{name: "error shown with -v", verbosity: 1, level: slog.LevelError, want: true},
		{name: "info hidden with -v", verbosity: 1, level: slog.LevelInfo, want: false},
		{name: "info shown with -vv", verbosity: 2, level: slog.LevelInfo, want: true},
		{name: "V(8) request body never shown", verbosity: 5, level: slog.Level(-8), want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			base := NewLogger(&buf, tt.verbosity, "text")
			l := slog.New(KlogHandler(base.Handler()))
			l.Log(t.Context(), tt.level, "canary-line")
			if got := strings.Contains(buf.String(), "canary-line"); got != tt.want {
				t.Errorf("logged = %v, want %v (output %q)", got, tt.want, buf.String())
			}
		})
	}
}
