package prune

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/object"
)

func entry(component, group, kind, ns, name string) inventory.Entry {
	return inventory.Entry{Ref: object.Ref{Group: group, Version: "v1", Kind: kind, Namespace: ns, Name: name}, Component: component}
}

func names(entries []inventory.Entry) []string {
	var out []string
	for _, e := range entries {
		out = append(out, e.Component+":"+e.String())
	}
	return out
}

func TestCandidatesOrder(t *testing.T) {
	prev := &inventory.Inventory{
		Environment: "ci",
		Components:  []string{"platform", "serving", "monitoring"},
		Entries: []inventory.Entry{
			entry("platform", "", "Namespace", "", "ml"),
			entry("platform", "apiextensions.k8s.io", "CustomResourceDefinition", "", "models.ml.dev"),
			entry("platform", "", "ConfigMap", "ml", "shared"),
			entry("serving", "", "ConfigMap", "ml", "serving"),
			entry("serving", "apps", "Deployment", "ml", "server"),
			entry("serving", "ml.dev", "Model", "ml", "resnet"),
			entry("monitoring", "apps", "Deployment", "ml", "prometheus"),
			entry("monitoring", "", "ConfigMap", "ml", "kept"),
		},
	}
	current := []inventory.Entry{entry("monitoring", "", "ConfigMap", "ml", "kept")}
	got := names(Candidates(Options{Previous: prev, Current: current}))
	want := []string{
		// Custom resources before workloads (they sit after workloads in
		// the apply order), workloads before config, CRDs and Namespaces
		// last; within a kind the later component first.
		"serving:Model.ml.dev ml/resnet",
		"monitoring:Deployment.apps ml/prometheus",
		"serving:Deployment.apps ml/server",
		"serving:ConfigMap ml/serving",
		"platform:ConfigMap ml/shared",
		"platform:Namespace ml",
		"platform:CustomResourceDefinition.apiextensions.k8s.io models.ml.dev",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("deletion order (-want +got):\n%s", diff)
	}
}

func TestCandidatesIgnoreVersionAndScope(t *testing.T) {
	prev := &inventory.Inventory{Entries: []inventory.Entry{
		entry("a", "autoscaling", "HorizontalPodAutoscaler", "ml", "hpa"),
		entry("a", "", "ConfigMap", "ml", "gone"),
		entry("b", "", "ConfigMap", "ml", "other-component"),
	}}
	moved := entry("a", "autoscaling", "HorizontalPodAutoscaler", "ml", "hpa")
	moved.Version = "v2"
	got := names(Candidates(Options{Previous: prev, Current: []inventory.Entry{moved}, Components: []string{"a"}}))
	// The HPA changed version only: it is the same object. Component b was
	// not part of the run, so its objects are not candidates.
	if diff := cmp.Diff([]string{"a:ConfigMap ml/gone"}, got); diff != "" {
		t.Errorf("candidates (-want +got):\n%s", diff)
	}
}

// The per-component guards: what they hold, and why.
func TestHolds(t *testing.T) {
	prev := &inventory.Inventory{Environment: "ci", Components: []string{"app", "extra", "gone"}, Entries: []inventory.Entry{
		entry("app", "", "ConfigMap", "ml", "app-removed"),
		entry("app", "", "ConfigMap", "ml", "moved"),
		entry("app", "", "Namespace", "", "envctl-system"),
		entry("extra", "", "ConfigMap", "ml", "extra-1"),
		entry("gone", "", "ConfigMap", "ml", "gone-1"),
	}}
	base := Options{
		Environment: "ci", Previous: prev,
		Current:  []inventory.Entry{entry("app", "", "ConfigMap", "ml", "kept")},
		Rendered: map[string]int{"app": 1, "extra": 0},
		Declared: []string{"app", "extra"},
	}
	tests := []struct {
		name string
		opts func(o *Options)
		// want maps each candidate's name to its reason's telling words,
		// "" for a candidate not held.
		want map[string]string
	}{
		{
			name: "full run",
			opts: func(o *Options) {},
			want: map[string]string{"app-removed": "", "moved": "", "extra-1": "component extra rendered no objects", "gone-1": "component gone is no longer in the environment"},
		},
		{
			name: "forced",
			opts: func(o *Options) { o.Force = true },
			want: map[string]string{"app-removed": "", "moved": "", "extra-1": "", "gone-1": ""},
		},
		{
			name: "removal of gone confirmed: only its guard is lifted",
			opts: func(o *Options) { o.Removed = []string{"gone"} },
			want: map[string]string{"app-removed": "", "moved": "", "extra-1": "rerun with --prune-empty", "gone-1": ""},
		},
		{
			name: "empty renders lifted: only their guard",
			opts: func(o *Options) { o.Empty = true },
			want: map[string]string{"app-removed": "", "moved": "", "extra-1": "", "gone-1": "confirm its removal with --prune-removed gone"},
		},
		{
			name: "CRD guard lifted: the component guards hold",
			opts: func(o *Options) { o.CRDs = true },
			want: map[string]string{"app-removed": "", "moved": "", "extra-1": "rendered no objects", "gone-1": "no longer in the environment"},
		},
		{
			name: "down",
			opts: func(o *Options) { o.All = true },
			want: map[string]string{"app-removed": "", "moved": "", "extra-1": "", "gone-1": ""},
		},
		{
			name: "run of component app, moved declared by extra",
			opts: func(o *Options) {
				o.Components = []string{"app"}
				o.Elsewhere = map[object.Key]string{entry("", "", "ConfigMap", "ml", "moved").Key(): "extra"}
			},
			want: map[string]string{"app-removed": "", "moved": "moved to component extra"},
		},
		{
			name: "run of component app, the others not rendered",
			opts: func(o *Options) {
				o.Components = []string{"app"}
				o.ElsewhereUnknown = true
			},
			want: map[string]string{"app-removed": "could not be rendered", "moved": "could not be rendered"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := base
			tt.opts(&opts)
			tt.want["envctl-system"] = "inventories and locks of every envctl environment"
			held, rest := Holds(opts, Candidates(opts))
			got := map[string]string{}
			for _, e := range rest {
				got[e.Name] = ""
			}
			for _, it := range held {
				if it.Entry.Name == "envctl-system" {
					if it.Outcome != Skipped {
						t.Errorf("envctl-system: outcome %s, want skipped (it leaves the inventory)", it.Outcome)
					}
					got[it.Entry.Name] = it.Reason
					continue
				}
				if it.Outcome != Held {
					t.Errorf("%s: outcome %s, want held", it.Entry.Name, it.Outcome)
				}
				got[it.Entry.Name] = it.Reason
			}
			if len(got) != len(tt.want) {
				t.Errorf("candidates %v, want %v", got, tt.want)
			}
			for name, want := range tt.want {
				reason, ok := got[name]
				switch {
				case !ok:
					t.Errorf("%s is not a candidate", name)
				case want == "" && reason != "":
					t.Errorf("%s held: %s", name, reason)
				case want != "" && !strings.Contains(reason, want):
					t.Errorf("%s: reason %q, want it to say %q", name, reason, want)
				case want != "" && name != "envctl-system" && !strings.Contains(reason, "--") && !strings.Contains(reason, "full apply"):
					t.Errorf("%s: reason %q does not say how to go past it", name, reason)
				}
			}
			// Held objects stay recorded; envctl-system leaves the inventory.
			res := &Result{Items: held}
			if len(res.Retained()) != len(held)-1 {
				t.Errorf("retained %d of %d held, want all but envctl-system", len(res.Retained()), len(held))
			}
		})
	}
}

func TestGuards(t *testing.T) {
	prev := &inventory.Inventory{Environment: "ci"}
	for _, n := range []string{"a", "b", "c", "d"} {
		prev.Entries = append(prev.Entries, entry("app", "", "ConfigMap", "ml", n))
	}
	keep := func(n ...string) []inventory.Entry {
		var out []inventory.Entry
		for _, name := range n {
			out = append(out, entry("app", "", "ConfigMap", "ml", name))
		}
		return out
	}
	tests := []struct {
		name      string
		opts      Options
		wantErr   string
		wantGuard Guard
		// lift is the override the refusal names.
		lift string
	}{
		{name: "a prune within the fraction", opts: Options{Current: keep("a", "b")}},
		{
			name:      "above the default fraction",
			opts:      Options{Current: keep("a")},
			wantErr:   "3 of the 4 objects applied before (75%) are no longer declared, more than prune.maxFraction (50%)",
			wantGuard: GuardMaxFraction, lift: "--prune-max-fraction",
		},
		{name: "above the fraction, forced", opts: Options{Current: keep("a"), Force: true}},
		{name: "a configured fraction allows it", opts: Options{Current: keep("a"), Settings: config.PruneSettings{MaxFraction: 0.8}}},
		{
			name:      "a configured lower fraction refuses",
			opts:      Options{Current: keep("a", "b", "c"), Settings: config.PruneSettings{MaxFraction: 0.2}},
			wantErr:   "more than prune.maxFraction (20%)",
			wantGuard: GuardMaxFraction, lift: "--prune-max-fraction",
		},
		{
			name:      "above the fraction, other guards lifted: the fraction still holds",
			opts:      Options{Current: keep("a"), Empty: true, CRDs: true, Removed: []string{"old"}},
			wantErr:   "more than prune.maxFraction (50%)",
			wantGuard: GuardMaxFraction, lift: "--prune-max-fraction",
		},
		{
			name:      "empty render",
			opts:      Options{Settings: config.PruneSettings{MaxFraction: 1}},
			wantErr:   "nothing was rendered, but its inventory holds 4 objects",
			wantGuard: GuardEmpty, lift: "--prune-empty",
		},
		{name: "empty render, forced", opts: Options{Force: true}},
		{name: "empty render, lifted by its own override", opts: Options{Empty: true, Settings: config.PruneSettings{MaxFraction: 1}}},
		{
			name:      "empty render, lifted by its own override: the fraction still holds",
			opts:      Options{Empty: true},
			wantErr:   "4 of the 4 objects applied before (100%)",
			wantGuard: GuardMaxFraction, lift: "--prune-max-fraction",
		},
		{
			name:    "the removal of a component still declared is not a confirmation",
			opts:    Options{Current: keep("a", "b", "c"), Removed: []string{"app"}, Declared: []string{"app"}},
			wantErr: "--prune-removed app: environment \"ci\" still declares component app",
		},
		{name: "nothing to prune", opts: Options{Current: keep("a", "b", "c", "d")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			opts.Environment, opts.Previous = "ci", prev
			all := Candidates(opts)
			g, err := guard(opts, all, all)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("allowed")
			}
			if g != tt.wantGuard {
				t.Errorf("refused by guard %q, want %q", g, tt.wantGuard)
			}
			for _, want := range []string{tt.wantErr, tt.lift, `"ci"`} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if got := errs.KindOf(err); got != errs.KindInput {
				t.Errorf("kind = %v, want input", got)
			}
		})
	}
}

func TestRunRefusesAfterIncompleteApply(t *testing.T) {
	// No client: prune must refuse before it makes any request.
	_, err := Run(t.Context(), nil, Options{Environment: "ci", Previous: &inventory.Inventory{Entries: []inventory.Entry{entry("a", "", "ConfigMap", "ml", "x")}}})
	if !errors.Is(err, ErrApplyIncomplete) {
		t.Fatalf("err = %v, want ErrApplyIncomplete", err)
	}
}

func TestRunDisabled(t *testing.T) {
	off := false
	res, err := Run(t.Context(), nil, Options{
		Environment: "ci", ApplySucceeded: true, Settings: config.PruneSettings{Enabled: &off},
		Previous: &inventory.Inventory{Entries: []inventory.Entry{entry("a", "", "ConfigMap", "ml", "x")}},
	})
	if err != nil || !res.Disabled || len(res.Items) != 0 {
		t.Fatalf("got %+v, %v; want a disabled, empty result", res, err)
	}
}

func TestNotOwnedReason(t *testing.T) {
	tests := []struct {
		labels map[string]string
		want   string
	}{
		{labels: map[string]string{"envctl.dev/managed-by": "envctl", "envctl.dev/environment": "ci"}},
		// A chart's own managed-by label does not matter.
		{labels: map[string]string{"envctl.dev/managed-by": "envctl", "app.kubernetes.io/managed-by": "Helm", "envctl.dev/environment": "ci"}},
		// Applied by a release that marked objects with the legacy label only.
		{labels: map[string]string{"app.kubernetes.io/managed-by": "envctl", "envctl.dev/environment": "ci"}},
		{labels: nil, want: "envctl does not manage it"},
		{labels: map[string]string{"app.kubernetes.io/managed-by": "Helm", "envctl.dev/environment": "ci"}, want: "envctl does not manage it"},
		{labels: map[string]string{"envctl.dev/managed-by": "someone-else", "app.kubernetes.io/managed-by": "envctl", "envctl.dev/environment": "ci"}, want: "envctl does not manage it"},
		{labels: map[string]string{"envctl.dev/managed-by": "envctl", "envctl.dev/environment": "staging"}, want: `is "staging", not "ci"`},
	}
	for _, tt := range tests {
		got := notOwnedReason(tt.labels, "ci")
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("notOwnedReason(%v) = %q, want %q", tt.labels, got, tt.want)
		}
	}
}

func TestResultErr(t *testing.T) {
	r := &Result{Items: []Item{
		{Outcome: Pruned},
		{Outcome: Failed, Err: errs.Timeout(errors.New("prune ConfigMap ml/a: still present"))},
		{Outcome: Failed, Err: errs.Cluster(errors.New("prune ConfigMap ml/b: refused"))},
	}}
	err := r.Err()
	want := "2 objects could not be pruned:\n  prune ConfigMap ml/a: still present\n  prune ConfigMap ml/b: refused"
	if err == nil || err.Error() != want {
		t.Errorf("Err() = %q, want %q", err, want)
	}
	if errs.KindOf(err) != errs.KindTimeout {
		t.Errorf("kind %v, want the first failure's", errs.KindOf(err))
	}
	if got := r.Retained(); len(got) != 2 {
		t.Errorf("Retained = %v, want both failures", got)
	}
	if (&Result{Items: []Item{{Outcome: Skipped}}}).Err() != nil {
		t.Error("a result without failures has an error")
	}
}

// An environment's own namespace (its state and daemon) is never pruned,
// even with every guard lifted; a namespace that only looks alike is.
func TestEnvironmentNamespacesAreNeverPruned(t *testing.T) {
	held, rest := Holds(Options{Force: true}, []inventory.Entry{
		entry("app", "", "Namespace", "", "envctl-env-prod"),
		entry("app", "", "Namespace", "", "envctl-environment"),
	})
	if len(held) != 1 || held[0].Entry.Name != "envctl-env-prod" || held[0].Outcome != Skipped {
		t.Errorf("held %+v, want envctl-env-prod skipped", held)
	}
	if len(rest) != 1 || rest[0].Name != "envctl-environment" {
		t.Errorf("pruned %+v, want envctl-environment", rest)
	}
}
