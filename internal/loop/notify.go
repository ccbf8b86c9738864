package loop

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/envctl/envctl/internal/engine"
	"github.com/envctl/envctl/internal/notify"
	"github.com/envctl/envctl/internal/prune"
)

// emit reports e, of the loop's environment, to the notifications.
func (l *Loop) emit(e notify.Event) {
	e.Environment = l.env
	l.opts.Notify.Emit(e)
}

// notifyResult reports a finished engine run: reconciled, or failed with
// one event per failed component, and the objects a prune guard held.
func (l *Loop) notifyResult(rev string, res *engine.Result, err error, took time.Duration) {
	if res != nil {
		l.notifyHeld(rev, res.Prune)
	}
	if err == nil {
		l.emit(notify.Event{Kind: notify.Reconciled, Revision: rev, Reason: notify.ReasonReconciled, Message: reconciledMessage(res, took)})
		return
	}
	failed := 0
	if res != nil {
		for _, c := range res.Components {
			if c.State != engine.Failed {
				continue
			}
			failed++
			reason := c.Reason
			if reason == "" && c.Err != nil {
				reason = c.Err.Error()
			}
			l.emit(notify.Event{Kind: notify.Failed, Revision: rev, Component: c.Name, Reason: notify.ReasonReconcileFailed,
				Message: fmt.Sprintf("component %s failed: %s", c.Name, reason)})
		}
	}
	if failed == 0 {
		l.emit(notify.Event{Kind: notify.Failed, Revision: rev, Reason: notify.ReasonReconcileFailed, Message: "reconcile failed: " + err.Error()})
	}
}

// reconciledMessage sums up a successful run.
func reconciledMessage(res *engine.Result, took time.Duration) string {
	if res == nil {
		return "reconciled"
	}
	var total engine.Counts
	for _, c := range res.Components {
		total.Created += c.Counts.Created
		total.Configured += c.Counts.Changed()
		total.Unchanged += c.Counts.Unchanged
		total.Pruned += c.Counts.Pruned
	}
	return fmt.Sprintf("reconciled %d components in %s: %d created, %d configured, %d unchanged, %d pruned",
		len(res.Components), took.Round(time.Millisecond), total.Created, total.Configured, total.Unchanged, total.Pruned)
}

// notifyHeld reports, one event per guard, the objects a prune guard
// kept.
func (l *Loop) notifyHeld(rev string, pr *prune.Result) {
	byGuard := map[prune.Guard][]prune.Item{}
	for _, it := range pr.With(prune.Held) {
		byGuard[it.Guard] = append(byGuard[it.Guard], it)
	}
	for _, g := range slices.Sorted(maps.Keys(byGuard)) {
		items := byGuard[g]
		comps := map[string]bool{}
		var names []string
		for _, it := range items {
			comps[it.Entry.Component] = true
			if len(names) < 5 {
				names = append(names, it.Entry.Ref.String())
			}
		}
		if len(items) > len(names) {
			names = append(names, fmt.Sprintf("and %d more", len(items)-len(names)))
		}
		e := notify.Event{Kind: notify.PruneHeld, Revision: rev, Reason: notify.ReasonPruneHeld,
			Message: fmt.Sprintf("prune guard %s kept %d objects no longer declared (%s): %s; lift it with %s",
				g, len(items), strings.Join(names, ", "), items[0].Reason, g.Lift())}
		if len(comps) == 1 {
			e.Component = items[0].Entry.Component
		}
		l.emit(e)
	}
}

// notifyDrift reports a drift correction or a fight about object key.
func (l *Loop) notifyDrift(kind notify.Kind, reason string, o *declaredObject, what string) {
	l.emit(notify.Event{Kind: kind, Reason: reason, Component: o.component, Object: o.key.String(), Message: what})
}
