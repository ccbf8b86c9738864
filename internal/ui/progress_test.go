package ui

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeClock advances by step on every reading.
func fakeClock(step time.Duration) func() time.Time {
	t := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return func() time.Time {
		t = t.Add(step)
		return t
	}
}

func TestProgressStepsPlain(t *testing.T) {
	var buf bytes.Buffer
	p := NewProgress(&buf, false, 0)
	p.now = fakeClock(1500 * time.Millisecond)
	done := p.Step("Checking container runtime")
	done(nil)
	done(errors.New("ignored: a step ends once"))
	p.Note("Provider auto: docker 27.3.1 answered; using kind")
	p.Step("Preparing nodes")(errors.New("boom"))
	p.Step("Waiting for nodes Ready")
	p.Close()
	want := `• Checking container runtime
✓ Checking container runtime (1.5s)
Provider auto: docker 27.3.1 answered; using kind
• Preparing nodes
✗ Preparing nodes (1.5s)
• Waiting for nodes Ready
✗ Waiting for nodes Ready (1.5s)
`
	if diff := cmp.Diff(want, buf.String()); diff != "" {
		t.Errorf("plain progress (-want +got):\n%s", diff)
	}
}

func TestProgressStepsLive(t *testing.T) {
	var buf bytes.Buffer
	p := &Progress{w: &buf, live: true, width: 100, comps: map[string]*componentLine{}, now: fakeClock(time.Second),
		stop: make(chan struct{}), stopped: make(chan struct{})}
	go p.loop()
	p.Step("Creating cluster")(nil)
	p.Close()
	out := buf.String()
	// The running step is a spinner line, erased and replaced by its result.
	if !strings.Contains(out, "⠋ Creating cluster (") || !strings.Contains(out, "\x1b[1A\x1b[J\x1b[32m✓\x1b[0m Creating cluster (") {
		t.Errorf("live progress = %q", out)
	}
	if strings.Contains(out, "• ") {
		t.Errorf("live progress printed plain start lines: %q", out)
	}
}

func TestRoundDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		30 * time.Millisecond:   "0s",
		1520 * time.Millisecond: "1.5s",
		42 * time.Second:        "42s",
		2 * time.Minute:         "2m",
		150 * time.Second:       "2m30s",
	} {
		if got := RoundDuration(d); got != want {
			t.Errorf("RoundDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
