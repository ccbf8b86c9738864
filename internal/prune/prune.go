// Package prune deletes what an environment no longer declares: the
// objects of the previous inventory that are not among the objects just
// applied. Deleting is the one thing envctl does that cannot be undone, so
// prune is guarded: it runs only after a fully successful apply, touches
// only objects whose live labels say envctl manages them for this
// environment, never deletes a Namespace without an explicit opt-in and
// never deletes an object annotated envctl.dev/prune: disabled. Each guard
// against a mistaken render (Guard) is lifted by its own override and no
// other: a removed component by naming it, an empty render, the max
// fraction, a CRD whose custom resources are someone else's; Force lifts
// them all.
//
// `envctl down` uses the same code with every guard but the labels lifted,
// waiting for each deletion.
package prune

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/object"
	"github.com/envctl/envctl/internal/ownership"
)

// DefaultMaxFraction is used when the settings give none.
const DefaultMaxFraction = 0.5

// ErrApplyIncomplete is returned when prune is asked to run after an apply
// that did not fully succeed. Pruning then could delete objects whose
// replacement never got applied.
var ErrApplyIncomplete = errors.New("prune refused: the apply did not fully succeed, so nothing is pruned")

// Options say what to prune and how carefully.
type Options struct {
	// Environment is the environment whose ownership labels an object must
	// carry to be deleted.
	Environment string
	// Previous is the inventory of the last successful apply.
	Previous *inventory.Inventory
	// Current are the entries of the objects just applied (the next
	// inventory). An object is a candidate when Previous has it and Current
	// does not, compared by group, kind, namespace and name.
	Current []inventory.Entry
	// Components, when set, limits prune to previous entries of these
	// components, for a run limited to some components.
	Components []string
	// ApplySucceeded must be true: the caller says every component applied
	// and became healthy. The zero value refuses, so a caller that forgets
	// to say prunes nothing.
	ApplySucceeded bool
	// Settings are the environment's prune settings.
	Settings config.PruneSettings
	// Force lifts every guard: the empty-render and max-fraction guards,
	// the per-component guards below, and the CustomResourceDefinition guard
	// (a CRD is not deleted while custom resources of it exist that envctl
	// does not manage, since they would go with it).
	Force bool
	// Removed confirms the removal of these components: the objects of a
	// component the environment no longer declares are pruned when it is
	// named here. It lifts the removed-component guard for them alone; the
	// others keep holding. Naming a component the environment still
	// declares is refused.
	Removed []string
	// Empty lifts the empty-render guards: a run that rendered nothing,
	// or a component that rendered no objects, prunes what it applied.
	Empty bool
	// CRDs lifts the CRD guard: a CustomResourceDefinition is deleted even
	// while custom resources of it exist that envctl does not manage, and
	// they go with it.
	CRDs bool
	// All deletes everything in Previous within Components: the guards that
	// protect against a bad render (empty render, max fraction, per
	// component) do not apply, and the CRD guard still does unless Force.
	// `envctl down` sets it.
	All bool
	// Rendered counts, for each component of this run, the objects it
	// rendered; Declared lists the components the environment declares.
	// Without Force, a previous component that rendered nothing, or that the
	// environment no longer declares, has its objects held: its empty render
	// is more often a mistake (a wrong path, a values file) than a wish to
	// delete it. Nil Rendered turns these guards off.
	Rendered map[string]int
	Declared []string
	// Elsewhere maps objects that components outside this run declare (a
	// run limited with --component) to the component declaring them. Such
	// an object moved to that component and is held, never pruned. With
	// Components set and ElsewhereUnknown true (the other components could
	// not be rendered), every candidate is held.
	Elsewhere        map[object.Key]string
	ElsewhereUnknown bool
	// DryRun reads the objects and reports what would be pruned, deleting
	// nothing.
	DryRun bool
	// Wait waits until each deleted object is gone (finalizers done) before
	// deleting the next kind, up to Timeout overall.
	Wait    bool
	Timeout time.Duration
	// Concurrency bounds the requests in flight; default 8.
	Concurrency int
	// OnItem, when set, is called with each object's outcome as it is known.
	OnItem func(Item)
	Logger *slog.Logger
}

// Outcome is what happened to one candidate.
type Outcome string

// Outcomes of a candidate.
const (
	// Pruned: deleted (or, in a dry run, would be).
	Pruned Outcome = "pruned"
	// Gone: the object no longer existed; nothing to do.
	Gone Outcome = "gone"
	// Skipped: deliberately left alone; Item.Reason says why.
	Skipped Outcome = "skipped"
	// Failed: the delete (or the read before it) failed; Item.Err says why.
	Failed Outcome = "failed"
	// Held: a guard kept it; it stays in the cluster and in the inventory,
	// and Item.Reason says which guard and how to lift it.
	Held Outcome = "held"
)

// Guard is one of the guards that keep objects a run no longer declares,
// when the render that dropped them is more likely a mistake than a wish
// to delete them.
type Guard string

// The guards, each lifted by its own override (Lift) or by Force.
const (
	// GuardRemoved keeps the objects of a component the environment no
	// longer declares.
	GuardRemoved Guard = "removed-component"
	// GuardEmpty keeps the objects of a run, or of a component, that
	// rendered nothing.
	GuardEmpty Guard = "empty-render"
	// GuardMaxFraction keeps everything when more than prune.maxFraction
	// of the inventory would go.
	GuardMaxFraction Guard = "max-fraction"
	// GuardCRD keeps a CustomResourceDefinition while custom resources of
	// it exist that envctl does not manage.
	GuardCRD Guard = "crd"
	// GuardMoved keeps, in a run of some components, an object another
	// component now declares, or every candidate when the others could
	// not be rendered to tell.
	GuardMoved Guard = "moved"
)

// Lift names the override that lifts g, and g alone.
func (g Guard) Lift() string {
	switch g {
	case GuardRemoved:
		return "--prune-removed COMPONENT"
	case GuardEmpty:
		return "--prune-empty"
	case GuardMaxFraction:
		return "a higher prune.maxFraction (--prune-max-fraction)"
	case GuardCRD:
		return "--prune-crds"
	case GuardMoved:
		return "a full apply, without --component"
	}
	return "--force-prune"
}

// Item is the outcome for one candidate.
type Item struct {
	Entry   inventory.Entry `json:"entry"`
	Outcome Outcome         `json:"outcome"`
	// Guard is the guard that held it (Outcome Held).
	Guard Guard `json:"guard,omitempty"`
	// Reason explains a skip or a failure in a sentence.
	Reason string `json:"reason,omitempty"`
	Err    error  `json:"-"`
}

// Result is what prune did, in the order it went.
type Result struct {
	// Disabled is set when prune is disabled in the settings.
	Disabled bool   `json:"disabled,omitempty"`
	DryRun   bool   `json:"dryRun,omitempty"`
	Items    []Item `json:"items"`
}

// With returns the items with outcome o.
func (r *Result) With(o Outcome) []Item {
	if r == nil {
		return nil
	}
	var out []Item
	for _, it := range r.Items {
		if it.Outcome == o {
			out = append(out, it)
		}
	}
	return out
}

// Retained returns the entries the next inventory must keep: those whose
// deletion failed, so that a later run tries again, and those a guard held.
// Skipped objects are released: envctl stops tracking them and leaves them
// in the cluster.
func (r *Result) Retained() []inventory.Entry {
	var out []inventory.Entry
	for _, it := range r.Items {
		if it.Outcome == Failed || it.Outcome == Held {
			out = append(out, it.Entry)
		}
	}
	return out
}

// Err joins the errors of the failed items, one per line; nil when none
// failed. Its class (errs.KindOf) is the first failure's.
func (r *Result) Err() error {
	var list []error
	for _, it := range r.With(Failed) {
		list = append(list, it.Err)
	}
	return errs.Objects("could not be pruned", list)
}

// Candidates returns the entries of opts.Previous (within opts.Components)
// that opts.Current lacks, in the order prune deletes them: kinds in the
// reverse of the apply order, then components in the reverse of theirs,
// then by namespace and name. Those a guard holds (see Held) are among them.
func Candidates(opts Options) []inventory.Entry {
	current := map[object.Key]bool{}
	for _, e := range opts.Current {
		current[e.Key()] = true
	}
	var out []inventory.Entry
	for _, e := range scoped(opts) {
		if !current[e.Key()] {
			out = append(out, e)
		}
	}
	order := componentOrder(opts.Previous)
	slices.SortStableFunc(out, func(a, b inventory.Entry) int {
		return compareDeletion(a, b, order)
	})
	return out
}

// Holds splits candidates into those a guard holds, as Held items with the
// guard and the reason, and the rest. It makes no request. The guards
// (lifted by Force, and by All but for the CRD guard, which needs the
// cluster):
//   - an object that a component outside this run now declares moved
//     there, and a run of its old component must not delete it;
//   - a component that rendered no objects keeps its objects (unless
//     Empty);
//   - a component the environment no longer declares keeps its objects
//     (unless named in Removed).
//
// One guard nothing lifts: namespace envctl-system, where the inventories
// and locks of environments live, and each environment's own namespace
// envctl-env-ENV (its state and daemon), are never pruned. Its item
// is Skipped, not Held: it leaves the environment's inventory, and the
// inventory store removes it once the last inventory is gone.
func Holds(opts Options, candidates []inventory.Entry) (held []Item, rest []inventory.Entry) {
	for _, e := range candidates {
		if isSystemNamespace(e) {
			held = append(held, Item{Entry: e, Outcome: Skipped, Reason: "it holds the inventories and locks of every envctl environment in the cluster: " +
				"never pruned, and no longer recorded as this environment's (envctl removes it with the last inventory)"})
			continue
		}
		if opts.Force || opts.All {
			rest = append(rest, e)
			continue
		}
		if g, reason := holdReason(opts, e); reason != "" {
			held = append(held, Item{Entry: e, Outcome: Held, Guard: g, Reason: reason})
			continue
		}
		rest = append(rest, e)
	}
	return held, rest
}

// isSystemNamespace says whether e is namespace envctl-system or an
// environment's own namespace.
func isSystemNamespace(e inventory.Entry) bool {
	return e.Group == "" && e.Kind == "Namespace" && (e.Name == inventory.Namespace || strings.HasPrefix(e.Name, inventory.EnvNamespacePrefix))
}

func holdReason(opts Options, e inventory.Entry) (Guard, string) {
	if len(opts.Components) > 0 {
		if other, ok := opts.Elsewhere[e.Key()]; ok {
			return GuardMoved, fmt.Sprintf("it moved to component %s, which this run (--component %s) does not apply; it is never pruned by a run of its old component",
				other, strings.Join(opts.Components, ","))
		}
		if opts.ElsewhereUnknown {
			return GuardMoved, "the components outside this run could not be rendered, so envctl cannot tell whether one of them declares it now; it is not pruned (a full apply decides)"
		}
	}
	if opts.Rendered == nil {
		return "", ""
	}
	if opts.Declared != nil && !slices.Contains(opts.Declared, e.Component) {
		if slices.Contains(opts.Removed, e.Component) {
			return "", ""
		}
		return GuardRemoved, fmt.Sprintf("its component %s is no longer in the environment; confirm its removal with --prune-removed %s to delete the component's objects",
			e.Component, e.Component)
	}
	if n, ok := opts.Rendered[e.Component]; ok && n == 0 && !opts.Empty {
		return GuardEmpty, fmt.Sprintf("its component %s rendered no objects, more often a mistake (a wrong path or values) than a wish to delete them; rerun with --prune-empty to delete them", e.Component)
	}
	return "", ""
}

// scoped returns the previous entries prune may consider.
func scoped(opts Options) []inventory.Entry {
	if opts.Previous == nil {
		return nil
	}
	if len(opts.Components) == 0 {
		return opts.Previous.Entries
	}
	return opts.Previous.ComponentEntries(opts.Components...)
}

// Check returns the error with which Run would refuse to prune as opts
// say, or nil; it makes no request. envctl diff uses it to warn ahead.
func Check(opts Options) error {
	if !enabled(opts.Settings) {
		return nil
	}
	all := Candidates(opts)
	_, rest := Holds(opts, all)
	_, err := guard(opts, all, rest)
	return err
}

// checkRemoved refuses to confirm the removal of a component the
// environment still declares: the name is a mistake, not a confirmation.
func checkRemoved(opts Options) error {
	for _, name := range opts.Removed {
		if slices.Contains(opts.Declared, name) {
			return errs.Inputf("--prune-removed %s: environment %q still declares component %s; name only the components removed from it",
				name, opts.Environment, name)
		}
	}
	return nil
}

// Enabled reports whether settings allow pruning at all.
func Enabled(s config.PruneSettings) bool { return enabled(s) }

// guard refuses a prune the settings do not allow: an empty render of the
// whole run (judged on every candidate; lifted by Empty), or deleting more
// than the max fraction (judged on those no other guard holds; lifted by
// raising it). Force lifts both. It returns the guard that refused.
func guard(opts Options, all, candidates []inventory.Entry) (Guard, error) {
	if err := checkRemoved(opts); err != nil {
		return "", err
	}
	prev := len(scoped(opts))
	if opts.Force || opts.All || prev == 0 || len(all) == 0 {
		return "", nil
	}
	if len(opts.Current) == 0 && !opts.Empty {
		return GuardEmpty, errs.Inputf("refusing to prune environment %q: nothing was rendered, but its inventory holds %d objects; "+
			"an empty render is more often a mistake than a wish to delete everything. "+
			"Run again with --prune-empty to delete them (prune.maxFraction still applies; --force-prune lifts every guard), or use `envctl down %s`",
			opts.Environment, prev, opts.Environment)
	}
	max := opts.Settings.MaxFraction
	if max <= 0 {
		max = DefaultMaxFraction
	}
	if frac := float64(len(candidates)) / float64(prev); frac > max {
		return GuardMaxFraction, errs.Inputf("refusing to prune environment %q: %d of the %d objects applied before (%.0f%%) are no longer declared, "+
			"more than prune.maxFraction (%.0f%%) allows. Check the render (`envctl diff %s` lists them); "+
			"to delete them, raise prune.maxFraction (--prune-max-fraction), or run again with --force-prune, which lifts every guard",
			opts.Environment, len(candidates), prev, 100*frac, 100*max, opts.Environment)
	}
	return "", nil
}

// enabled reports whether the settings allow pruning at all.
func enabled(s config.PruneSettings) bool {
	return s.Enabled == nil || *s.Enabled
}

// notOwnedReason says why labels do not make an object this environment's,
// or returns "" when they do. The live labels decide, not the inventory:
// someone may have taken the object over since envctl applied it.
func notOwnedReason(labels map[string]string, env string) string {
	if !ownership.ManagedByEnvctl(labels) {
		return fmt.Sprintf("its label %s is not %q, so envctl does not manage it; left alone", ownership.LabelManagedBy, ownership.ManagedByValue)
	}
	if got := labels[ownership.LabelEnvironment]; got != env {
		return fmt.Sprintf("its label %s is %q, not %q, so it is not this environment's; left alone", ownership.LabelEnvironment, got, env)
	}
	return ""
}
