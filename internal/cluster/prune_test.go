package cluster

import (
	"strings"
	"testing"
	"time"

	"github.com/envctl/envctl/internal/config"
)

func TestPruneReason(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	old, young := now.Add(-5*time.Hour), now.Add(-time.Hour)
	tests := []struct {
		name      string
		in        Info
		olderThan time.Duration
		remove    bool
		why       string
	}{
		{"embedded whose process is gone", Info{Provider: config.ProviderEmbedded, Status: StatusStopped, Created: young}, 0, true, "serve process is gone"},
		{"embedded running", Info{Provider: config.ProviderEmbedded, Status: StatusRunning, Created: old}, 0, false, "running"},
		{"embedded running, too old", Info{Provider: config.ProviderEmbedded, Status: StatusRunning, Created: old}, 4 * time.Hour, true, "created 5h0m0s ago, more than --older-than 4h0m0s"},
		{"embedded running, young", Info{Provider: config.ProviderEmbedded, Status: StatusRunning, Created: young}, 4 * time.Hour, false, "created 1h0m0s ago"},
		{"kind whose containers are gone", Info{Provider: config.ProviderKind, Status: StatusMissing, Created: young}, 0, true, "containers are gone"},
		// A stopped kind cluster has no process to have lost: only age
		// removes it.
		{"kind stopped", Info{Provider: config.ProviderKind, Status: StatusStopped, Created: young}, 4 * time.Hour, false, "stopped"},
		{"unknown creation time", Info{Provider: config.ProviderEmbedded, Status: StatusUnknown}, 4 * time.Hour, false, "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			why, remove := pruneReason(tt.in, tt.olderThan, now)
			if remove != tt.remove || !strings.Contains(why, tt.why) {
				t.Errorf("pruneReason = %q, %v; want %v, saying %q", why, remove, tt.remove, tt.why)
			}
		})
	}
}
