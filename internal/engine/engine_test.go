package engine

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/envctl/envctl/internal/apply"
	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/object"
	"github.com/envctl/envctl/internal/prune"
	"github.com/envctl/envctl/internal/render"
)

// testRun is a run without a cluster, for the logic that needs none.
func testRun(env string) *run {
	e := &config.Environment{Metadata: config.Metadata{Name: env}}
	return &run{opts: runOptions{Environment: e}, env: env, result: &Result{Environment: env}}
}

func TestSchedulingSkipsDependentsOnly(t *testing.T) {
	r := testRun("ci")
	rendered := &render.Result{Components: []*render.Component{
		{Name: "a"},
		{Name: "b", DependsOn: []string{"a"}},
		{Name: "c"},
		{Name: "d", DependsOn: []string{"b"}},
		{Name: "e", DependsOn: []string{"c"}},
		{Name: "f", DependsOn: []string{"outside-the-run"}},
	}}
	cStarted := make(chan struct{})
	var events []Event
	r.opts.OnEvent = func(e Event) { events = append(events, e) }
	r.runComponent = func(ctx context.Context, c *render.Component, _ *inventory.Inventory, _ map[object.Key]apply.Recorded, _ *apply.Live) ComponentResult {
		switch c.Name {
		case "a":
			// a fails, but only after c has started: independent components
			// must not wait for each other.
			select {
			case <-cStarted:
			case <-time.After(10 * time.Second):
				t.Error("c did not start while a was running")
			}
			err := errs.Unhealthy(errors.New("Deployment ml/web: Failed"))
			r.fail(err)
			return ComponentResult{Name: c.Name, State: Failed, Err: err}
		case "c":
			close(cStarted)
		}
		return ComponentResult{Name: c.Name, State: Healthy}
	}
	r.applyComponents(context.Background(), rendered, nil)

	got := map[string]string{}
	for _, c := range r.result.Components {
		got[c.Name] = string(c.State) + " " + c.Reason
	}
	want := map[string]string{
		"a": "failed ",
		"b": "skipped dependency a failed",
		"c": "healthy ",
		"d": "skipped dependency b was skipped",
		"e": "healthy ",
		"f": "healthy ",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("component states (-want +got):\n%s", diff)
	}
	if names := []string{r.result.Components[0].Name, r.result.Components[5].Name}; names[0] != "a" || names[1] != "f" {
		t.Errorf("results not in render order: %v", names)
	}
	err := r.failure()
	if errs.KindOf(err) != errs.KindUnhealthy {
		t.Errorf("run error kind = %v, want unhealthy: %v", errs.KindOf(err), err)
	}
	skipped := 0
	for _, e := range events {
		if e.Type == ComponentDone && e.State == Skipped {
			skipped++
		}
	}
	if skipped != 2 {
		t.Errorf("%d skipped events, want 2", skipped)
	}
}

func entry(component, kind, name, digest string) inventory.Entry {
	return inventory.Entry{Ref: object.Ref{Version: "v1", Kind: kind, Namespace: "ml", Name: name}, Component: component, Digest: digest, Fields: "f-" + digest}
}

func change(e inventory.Entry, a apply.Action) apply.Change {
	return apply.Change{Ref: e.Ref, Action: a, Digest: e.Digest, Fields: e.Fields}
}

func TestNextInventory(t *testing.T) {
	prev := &inventory.Inventory{
		Environment: "ci",
		Components:  []string{"platform", "serving", "gone"},
		Entries: []inventory.Entry{
			entry("platform", "ConfigMap", "kept", "1"),
			entry("platform", "ConfigMap", "removed", "1"),
			entry("serving", "ConfigMap", "old-only", "1"),
			entry("serving", "ConfigMap", "updated", "1"),
			entry("gone", "ConfigMap", "orphan", "1"),
		},
	}
	tests := []struct {
		name       string
		components []ComponentResult
		pruned     *prune.Result
		want       []string // "component/name@digest", in inventory (name) order
		wantComps  []string
	}{
		{
			name: "all succeeded and prune deleted the rest",
			components: []ComponentResult{
				{Name: "platform", State: Healthy, Changes: []apply.Change{change(entry("platform", "ConfigMap", "kept", "1"), apply.Unchanged)}},
				{Name: "serving", State: Healthy, Changes: []apply.Change{change(entry("serving", "ConfigMap", "updated", "2"), apply.Configured)}},
			},
			pruned: &prune.Result{Items: []prune.Item{
				{Entry: entry("platform", "ConfigMap", "removed", "1"), Outcome: prune.Pruned},
				{Entry: entry("serving", "ConfigMap", "old-only", "1"), Outcome: prune.Skipped},
				{Entry: entry("gone", "ConfigMap", "orphan", "1"), Outcome: prune.Failed},
			}},
			want:      []string{"platform/kept@1", "gone/orphan@1", "serving/updated@2"},
			wantComps: []string{"platform", "serving", "gone"},
		},
		{
			name: "without prune nothing is forgotten",
			components: []ComponentResult{
				{Name: "platform", State: Healthy, Changes: []apply.Change{change(entry("platform", "ConfigMap", "kept", "1"), apply.Unchanged)}},
				{Name: "serving", State: Healthy, Changes: []apply.Change{change(entry("serving", "ConfigMap", "updated", "2"), apply.Configured)}},
			},
			want:      []string{"platform/kept@1", "serving/old-only@1", "gone/orphan@1", "platform/removed@1", "serving/updated@2"},
			wantComps: []string{"platform", "serving", "gone"},
		},
		{
			name: "a failed component keeps its entries and records what it applied",
			components: []ComponentResult{
				{Name: "platform", State: Healthy, Changes: []apply.Change{
					change(entry("platform", "ConfigMap", "kept", "1"), apply.Unchanged),
					change(entry("platform", "ConfigMap", "removed", "1"), apply.Unchanged),
				}},
				{Name: "serving", State: Failed, Changes: []apply.Change{
					change(entry("serving", "ConfigMap", "updated", "2"), apply.Configured),
					{Ref: entry("serving", "ConfigMap", "new", "").Ref, Action: apply.Failed},
				}},
			},
			want:      []string{"platform/kept@1", "serving/old-only@1", "gone/orphan@1", "platform/removed@1", "serving/updated@2"},
			wantComps: []string{"platform", "serving", "gone"},
		},
		{
			name: "what a prune guard held stays recorded",
			components: []ComponentResult{
				{Name: "platform", State: Healthy, Changes: []apply.Change{change(entry("platform", "ConfigMap", "kept", "1"), apply.Unchanged)}},
				{Name: "serving", State: Healthy, Changes: []apply.Change{change(entry("serving", "ConfigMap", "updated", "2"), apply.Configured)}},
			},
			pruned: &prune.Result{Items: []prune.Item{
				{Entry: entry("platform", "ConfigMap", "removed", "1"), Outcome: prune.Pruned},
				{Entry: entry("serving", "ConfigMap", "old-only", "1"), Outcome: prune.Held},
				{Entry: entry("gone", "ConfigMap", "orphan", "1"), Outcome: prune.Held},
			}},
			want:      []string{"platform/kept@1", "serving/old-only@1", "gone/orphan@1", "serving/updated@2"},
			wantComps: []string{"platform", "serving", "gone"},
		},
		{
			name: "a disabled prune forgets nothing",
			components: []ComponentResult{
				{Name: "platform", State: Healthy, Changes: []apply.Change{change(entry("platform", "ConfigMap", "kept", "1"), apply.Unchanged)}},
				{Name: "serving", State: Healthy},
			},
			pruned:    &prune.Result{Disabled: true},
			want:      []string{"platform/kept@1", "serving/old-only@1", "gone/orphan@1", "platform/removed@1", "serving/updated@1"},
			wantComps: []string{"platform", "serving", "gone"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := testRun("ci")
			r.result.Components = tt.components
			next := r.nextInventory(prev, tt.pruned)
			var got []string
			for _, e := range next.Entries {
				got = append(got, e.Component+"/"+e.Name+"@"+e.Digest)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("entries (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantComps, next.Components); diff != "" {
				t.Errorf("components (-want +got):\n%s", diff)
			}
			if next.Environment != "ci" {
				t.Errorf("environment = %q", next.Environment)
			}
		})
	}
}

func hook(kind, name string, weight int, phases []render.HookPhase, policies ...string) *render.Hook {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("v1")
	if kind == "Job" {
		u.SetAPIVersion("batch/v1")
	}
	u.SetKind(kind)
	u.SetNamespace("ml")
	u.SetName(name)
	return &render.Hook{Object: u, Phases: phases, Weight: weight, DeletePolicies: policies}
}

func TestHooksFor(t *testing.T) {
	pre := []render.HookPhase{render.PreInstall, render.PreUpgrade}
	c := &render.Component{Hooks: []*render.Hook{
		hook("Job", "migrate", 5, pre),
		hook("Job", "b-seed", 0, pre),
		hook("ConfigMap", "z-settings", 0, pre),
		hook("Job", "a-seed", 0, pre),
		hook("Job", "notify", 0, []render.HookPhase{render.PostInstall}),
		hook("Job", "early", -5, []render.HookPhase{render.PreUpgrade}),
		// One name for an account and the Job that runs as it: kind order.
		hook("Job", "init", 3, pre),
		hook("ServiceAccount", "init", 3, pre),
	}}
	names := func(hs []*render.Hook) []string {
		var out []string
		for _, h := range hs {
			out = append(out, h.Object.GetName())
		}
		return out
	}
	kinds := func(hs []*render.Hook) []string {
		var out []string
		for _, h := range hs {
			out = append(out, h.Object.GetKind())
		}
		return out
	}
	// Helm sorts by weight, then name: the ConfigMap z-settings runs after
	// the Jobs of its weight, whatever its kind.
	pre1 := hooksFor(c, render.PreInstall)
	if diff := cmp.Diff([]string{"a-seed", "b-seed", "z-settings", "init", "init", "migrate"}, names(pre1)); diff != "" {
		t.Errorf("pre-install order (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"ServiceAccount", "Job"}, kinds(pre1[3:5])); diff != "" {
		t.Errorf("hooks of one weight and name (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"early", "a-seed", "b-seed", "z-settings", "init", "init", "migrate"}, names(hooksFor(c, render.PreUpgrade))); diff != "" {
		t.Errorf("pre-upgrade order (-want +got):\n%s", diff)
	}
	if got := names(hooksFor(c, render.PostUpgrade)); got != nil {
		t.Errorf("post-upgrade hooks = %v, want none", got)
	}
}

func TestHasPolicy(t *testing.T) {
	none := hook("Job", "j", 0, nil)
	if !hasPolicy(none, render.HookBeforeCreation) || hasPolicy(none, render.HookSucceeded) {
		t.Error("a hook without policies must get before-hook-creation only")
	}
	succ := hook("Job", "j", 0, nil, render.HookSucceeded)
	if hasPolicy(succ, render.HookBeforeCreation) || !hasPolicy(succ, render.HookSucceeded) {
		t.Error("explicit policies must replace the default")
	}
}

func TestErrorMessage(t *testing.T) {
	one := &Error{Environment: "ci", Errs: []error{errs.Timeout(errors.New("component a: timed out"))}}
	if got := one.Error(); got != "environment ci: component a: timed out" {
		t.Errorf("Error() = %q", got)
	}
	two := &Error{Environment: "ci", Errs: []error{errs.Conflict(errors.New("component a: x\ny")), errors.New("component b: z")}}
	want := "environment ci: 2 problems:\n- component a: x\n  y\n- component b: z"
	if got := two.Error(); got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if errs.KindOf(two) != errs.KindConflict {
		t.Errorf("kind = %v, want the first error's", errs.KindOf(two))
	}
}

func TestUnchangedInventory(t *testing.T) {
	entry := func(name, digest string) inventory.Entry {
		return inventory.Entry{Ref: object.Ref{Version: "v1", Kind: "ConfigMap", Namespace: "ml", Name: name}, Component: "platform", Digest: digest, Fields: "f"}
	}
	prev := &inventory.Inventory{
		Environment: "ci", Revision: "abc", AppliedAt: time.Unix(100, 0),
		Components: []string{"platform"}, Entries: []inventory.Entry{entry("a", "1"), entry("b", "2")},
	}
	with := func(edit func(*inventory.Inventory)) *inventory.Inventory {
		next := *prev
		next.AppliedAt = time.Unix(200, 0)
		next.Components = slices.Clone(prev.Components)
		next.Entries = slices.Clone(prev.Entries)
		edit(&next)
		return &next
	}
	tests := []struct {
		name string
		prev *inventory.Inventory
		next *inventory.Inventory
		want bool
	}{
		{"only the time differs", prev, with(func(*inventory.Inventory) {}), true},
		{"no previous inventory", nil, with(func(*inventory.Inventory) {}), false},
		{"an object changed", prev, with(func(i *inventory.Inventory) { i.Entries[1] = entry("b", "3") }), false},
		{"an object pruned", prev, with(func(i *inventory.Inventory) { i.Entries = i.Entries[:1] }), false},
		{"another revision", prev, with(func(i *inventory.Inventory) { i.Revision = "def" }), false},
		{"a component added", prev, with(func(i *inventory.Inventory) { i.Components = append(i.Components, "monitoring") }), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := unchangedInventory(tt.prev, tt.next); got != tt.want {
				t.Errorf("unchangedInventory = %v, want %v", got, tt.want)
			}
		})
	}
}
