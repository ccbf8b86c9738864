package ui

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"

	"github.com/envctl/envctl/internal/apply"
	"github.com/envctl/envctl/internal/engine"
	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/health"
	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/object"
	"github.com/envctl/envctl/internal/prune"
)

// The -update flag rewrites the golden files under testdata/.
var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// checkGolden compares got with testdata/name, or rewrites it under -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got; -update rewrites it):\n%s", path, diff)
	}
}

func sampleResult() *engine.Result {
	ref := func(group, kind, ns, name string) object.Ref {
		return object.Ref{Group: group, Version: "v1", Kind: kind, Namespace: ns, Name: name}
	}
	return &engine.Result{
		Environment: "ci",
		Revision:    "main@sha1:0123456789abcdef0123456789abcdef01234567",
		Succeeded:   false,
		Duration:    12340 * time.Millisecond,
		Components: []engine.ComponentResult{
			{
				Name: "platform", State: engine.Healthy, Duration: 2100 * time.Millisecond,
				Counts: engine.Counts{Created: 1, Configured: 1, Unchanged: 17, Pruned: 1},
				Changes: []apply.Change{
					{Ref: ref("", "Namespace", "", "ml"), Action: apply.Created},
					{Ref: ref("", "ConfigMap", "ml", "settings"), Action: apply.Configured},
					{Ref: ref("", "ConfigMap", "ml", "same"), Action: apply.Unchanged},
				},
			},
			{
				Name: "model-serving", State: engine.Failed, Duration: 30 * time.Second,
				Counts: engine.Counts{Created: 2},
				Reason: "timed out after 30s: 1 object not ready\n  Deployment.apps ml/model-server: InProgress: Available: 0/2",
				NotReady: []health.ObjectStatus{{
					Ref: ref("apps", "Deployment", "ml", "model-server"), Status: kstatus.InProgressStatus, Message: "Available: 0/2",
					Event: "FailedScheduling: 0/2 nodes are available: 2 Insufficient cpu. (pod model-server-abc)",
				}},
			},
			{Name: "inference", State: engine.Skipped, Reason: "dependency model-serving failed"},
		},
		Prune: &prune.Result{Items: []prune.Item{
			{Entry: inventory.Entry{Ref: ref("", "ConfigMap", "ml", "old"), Component: "platform"}, Outcome: prune.Pruned},
			{Entry: inventory.Entry{Ref: ref("", "ConfigMap", "ml", "kept"), Component: "platform"}, Outcome: prune.Skipped, Reason: "annotated envctl.dev/prune: disabled"},
		}},
	}
}

func TestSummary(t *testing.T) {
	cl := ClusterInfo{Name: "envctl-ci", Provider: "embedded", Context: "envctl-ci", Created: true}
	for _, format := range []string{"text", "json"} {
		var b bytes.Buffer
		if err := WriteSummary(&b, format, sampleResult(), cl, RequestCounts{Total: 41, Writes: 7}); err != nil {
			t.Fatal(err)
		}
		checkGolden(t, "up-summary."+format, b.Bytes())
	}
}

func TestProgressPlain(t *testing.T) {
	var b bytes.Buffer
	p := NewProgress(&b, false, 0)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	pending := []health.ObjectStatus{{
		Ref:    object.Ref{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "ml", Name: "web"},
		Status: kstatus.InProgressStatus, Message: "Available: 0/2",
	}}
	events := []engine.Event{
		{Type: engine.RenderDone, Time: at(0), Message: "2 components, 3 objects"},
		{Type: engine.ComponentStarted, Time: at(0.1), Component: "platform", Objects: 2, Message: "2 objects"},
		{Type: engine.ObjectApplied, Time: at(0.2), Component: "platform", Object: "Namespace ml", Action: "created"},
		{Type: engine.ObjectApplied, Time: at(0.2), Component: "platform", Object: "ConfigMap ml/same", Action: "unchanged"},
		{Type: engine.HookStarted, Time: at(0.3), Component: "platform", Object: "Job.batch ml/migrate", Message: "post-install"},
		{Type: engine.HookDone, Time: at(1.3), Component: "platform", Object: "Job.batch ml/migrate", Message: "post-install"},
		{Type: engine.ComponentDone, Time: at(1.4), Component: "platform", State: engine.Healthy, Counts: engine.Counts{Created: 1, Unchanged: 1}},
		{Type: engine.ComponentStarted, Time: at(1.5), Component: "serving", Objects: 1, Message: "1 object"},
		{Type: engine.ObjectApplied, Time: at(1.6), Component: "serving", Object: "Deployment.apps ml/web", Action: "failed",
			Err: errs.Conflict(errors.New("apply Deployment.apps ml/web: conflict: .spec.replicas is owned by \"hpa\"\nsecond line"))},
		{Type: engine.Waiting, Time: at(1.7), Component: "serving", Pending: pending},
		{Type: engine.ComponentDone, Time: at(4.0), Component: "serving", State: engine.Failed, Err: errors.New("boom")},
		{Type: engine.ComponentDone, Time: at(4.0), Component: "inference", State: engine.Skipped, Message: "dependency serving failed"},
		{Type: engine.PruneSkipped, Time: at(4.1), Message: "not every component applied and became healthy"},
		{Type: engine.InventorySaved, Time: at(4.2), Message: "3 objects"},
	}
	for _, e := range events {
		p.Event(e)
	}
	p.Close()
	checkGolden(t, "up-progress.txt", b.Bytes())
}

func TestProgressLiveLine(t *testing.T) {
	p := &Progress{live: true, width: 60, now: func() time.Time { return time.Unix(100, 0) }}
	c := &componentLine{name: "serving", state: "waiting", start: time.Unix(97, 0),
		detail: "Deployment.apps ml/web: InProgress: Available: 0/2 and a long tail that must be cut"}
	got := p.render(c, 10)
	if n := len([]rune(got)); n > 59 {
		t.Errorf("line of %d runes does not fit a 60-column terminal: %q", n, got)
	}
	if !strings.HasPrefix(got, "⠋ serving     waiting   Deployment.apps ml/web") || !strings.HasSuffix(got, "…") {
		t.Errorf("live line = %q", got)
	}
	done := &componentLine{name: "platform", state: "healthy", elapsed: 2 * time.Second, counts: engine.Counts{Created: 3, Unchanged: 1}}
	p.width = 100
	if got := p.render(done, 10); got != "✓ platform    healthy   3 created, 0 changed, 1 unchanged  2s" {
		t.Errorf("done line = %q", got)
	}
}

func TestProgressLiveFinalBlock(t *testing.T) {
	var b bytes.Buffer
	p := NewProgress(&b, true, 100)
	t0 := time.Unix(1000, 0)
	p.now = func() time.Time { return t0.Add(3 * time.Second) }
	p.Event(engine.Event{Type: engine.RenderDone, Time: t0, Message: "2 components, 2 objects"})
	p.Event(engine.Event{Type: engine.ComponentStarted, Time: t0, Component: "platform", Objects: 1})
	p.Event(engine.Event{Type: engine.ComponentStarted, Time: t0, Component: "serving", Objects: 1})
	p.Event(engine.Event{Type: engine.ObjectApplied, Time: t0, Component: "platform", Object: "ConfigMap ml/a", Action: "created"})
	p.Event(engine.Event{Type: engine.ComponentDone, Time: t0.Add(time.Second), Component: "platform", State: engine.Healthy, Counts: engine.Counts{Created: 1}})
	p.Event(engine.Event{Type: engine.ComponentDone, Time: t0.Add(2 * time.Second), Component: "serving", State: engine.Failed, Err: errors.New("timed out after 1s\n  details")})
	p.Close()

	out := b.String()
	// The block is erased and redrawn in place: cursor up, clear to end.
	if !strings.Contains(out, "\x1b[2A\x1b[J") {
		t.Errorf("no in-place redraw of the two-line block in %q", out)
	}
	// Lines that are not about a component stay above the block.
	if !strings.HasPrefix(out, "rendered 2 components, 2 objects\n") {
		t.Errorf("output starts %q", out[:min(len(out), 60)])
	}
	final := out[strings.LastIndex(out, "\x1b[J")+len("\x1b[J"):]
	want := "✓ platform  healthy   1 created, 0 changed, 0 unchanged  1s\n" +
		"✗ serving   failed    timed out after 1s  2s\n"
	if final != want {
		t.Errorf("final block =\n%q\nwant\n%q", final, want)
	}
}
