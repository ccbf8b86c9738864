package prune

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/kube"
	"github.com/envctl/envctl/internal/object"
	"github.com/envctl/envctl/internal/testhook"
)

// DisabledValue is the value of kube.PruneAnnotation that keeps an object
// from ever being deleted by envctl.
const DisabledValue = "disabled"

// HelmResourcePolicy set to HelmKeep keeps an object through Helm's
// uninstall and upgrades (Helm trims and lower-cases the value);
// envctl's prune and down honour it as Helm does.
const (
	HelmResourcePolicy = "helm.sh/resource-policy"
	HelmKeep           = "keep"
)

// pollInterval is how often Wait checks whether deleted objects are gone.
const pollInterval = 200 * time.Millisecond

// Run prunes what opts describe through client and returns what it did with
// each candidate. A refused prune (guards, an incomplete apply) returns an
// error and deletes nothing; otherwise the error joins the failed items'.
func Run(ctx context.Context, client *kube.Client, opts Options) (*Result, error) {
	if !opts.ApplySucceeded {
		return nil, ErrApplyIncomplete
	}
	if !enabled(opts.Settings) {
		return &Result{Disabled: true}, nil
	}
	all := Candidates(opts)
	held, candidates := Holds(opts, all)
	if g, err := guard(opts, all, candidates); err != nil {
		// Refused: every candidate is kept, by the guard that refused.
		res := &Result{DryRun: opts.DryRun, Items: held}
		if g != "" {
			for _, e := range candidates {
				res.Items = append(res.Items, Item{Entry: e, Outcome: Held, Guard: g,
					Reason: fmt.Sprintf("the %s guard refused the whole prune (lifted by %s)", g, g.Lift())})
			}
		}
		return res, err
	}
	if opts.Concurrency < 1 {
		opts.Concurrency = 8
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Wait && opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
	}
	r := &runner{client: client, opts: opts}
	res := &Result{DryRun: opts.DryRun}
	for _, it := range held {
		opts.Logger.Info("not pruned", "object", it.Entry.String(), "reason", it.Reason)
		if opts.OnItem != nil {
			opts.OnItem(it)
		}
		res.Items = append(res.Items, it)
	}
	for _, wave := range waves(candidates) {
		if ctx.Err() != nil {
			// Interrupted: no further deletion starts; what is left stays
			// in the inventory for the next run.
			break
		}
		targets := r.deleteAll(ctx, wave)
		if opts.Wait && !opts.DryRun {
			r.waitGone(ctx, targets)
		}
		for _, t := range targets {
			if opts.OnItem != nil {
				opts.OnItem(t.item)
			}
			res.Items = append(res.Items, t.item)
		}
	}
	return res, res.Err()
}

type runner struct {
	client *kube.Client
	opts   Options
}

// target is one candidate with what deleting it needs later.
type target struct {
	item Item
	res  dynamic.ResourceInterface
	uid  types.UID
	// finalizers are those last seen while waiting, for the timeout message.
	finalizers []string
}

// deleteAll deletes the entries of one wave concurrently and returns their
// targets in the order given.
func (r *runner) deleteAll(ctx context.Context, entries []inventory.Entry) []*target {
	out := make([]*target, len(entries))
	sem := make(chan struct{}, r.opts.Concurrency)
	var wg sync.WaitGroup
	for i, e := range entries {
		acquired := false
		select {
		case sem <- struct{}{}:
			acquired = true
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			if acquired {
				<-sem
			}
			// Interrupted: not started, kept for the next run.
			out[i] = r.fail(&target{item: Item{Entry: e}}, fmt.Errorf("prune %s: not started: %w", e, context.Cause(ctx)))
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			out[i] = r.deleteOne(ctx, e)
		})
	}
	wg.Wait()
	return out
}

// deleteOne reads the live object, checks that it may be deleted, and
// deletes it with background propagation. The delete is conditional on the
// UID read, so an object replaced in between by someone else is not touched.
func (r *runner) deleteOne(ctx context.Context, e inventory.Entry) *target {
	t := &target{item: Item{Entry: e}}
	res, err := r.resource(ctx, e.Ref)
	if meta.IsNoMatchError(err) {
		// The kind is gone (its CRD was deleted), and with it every object.
		t.item.Outcome, t.item.Reason = Gone, "its kind is no longer served"
		return t
	}
	if err != nil {
		return r.fail(t, errs.Cluster(fmt.Errorf("prune %s: %w", e, err)))
	}
	t.res = res
	live, err := res.Get(ctx, e.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		t.item.Outcome = Gone
		return t
	}
	if err != nil {
		return r.fail(t, clusterErr(ctx, "read", e, err))
	}
	if reason := notOwnedReason(live.GetLabels(), r.opts.Environment); reason != "" {
		return r.skip(t, reason)
	}
	if e.Group == "" && e.Kind == "Namespace" && !r.opts.Settings.AllowNamespaces {
		return r.skip(t, "a Namespace, and deleting it would delete everything in it; set prune.allowNamespaces to let prune delete namespaces")
	}
	if live.GetAnnotations()[kube.PruneAnnotation] == DisabledValue {
		return r.skip(t, fmt.Sprintf("annotated %s: %s", kube.PruneAnnotation, DisabledValue))
	}
	if strings.EqualFold(strings.TrimSpace(live.GetAnnotations()[HelmResourcePolicy]), HelmKeep) {
		return r.skip(t, fmt.Sprintf("annotated %s: %s, which keeps it as Helm's uninstall does", HelmResourcePolicy, HelmKeep))
	}
	if e.Group == crdGroup && e.Kind == "CustomResourceDefinition" && !r.opts.Force && !r.opts.CRDs {
		reason, err := r.unmanagedCustomResources(ctx, live)
		if err != nil {
			return r.fail(t, clusterErr(ctx, "list the custom resources of", e, err))
		}
		if reason != "" {
			t.item.Outcome, t.item.Guard, t.item.Reason = Held, GuardCRD, reason
			r.opts.Logger.Info("not pruned", "object", e.String(), "reason", reason)
			return t
		}
	}
	t.uid = live.GetUID()
	t.item.Outcome = Pruned
	if r.opts.DryRun || live.GetDeletionTimestamp() != nil {
		return t
	}
	uid := live.GetUID()
	policy := metav1.DeletePropagationBackground
	// Sent, a delete is let finish even when ctx ends (Ctrl-C), so that
	// its outcome is known and recorded.
	err = res.Delete(context.WithoutCancel(ctx), e.Name, metav1.DeleteOptions{
		PropagationPolicy: &policy,
		Preconditions:     &metav1.Preconditions{UID: &uid},
	})
	switch {
	case err == nil:
		r.opts.Logger.Debug("pruned", "object", e.String(), "component", e.Component)
		testhook.Reached(ctx, testhook.Prune)
	case apierrors.IsNotFound(err):
		t.item.Outcome = Gone
	case apierrors.IsConflict(err):
		return r.fail(t, errs.Conflict(fmt.Errorf("prune %s: it was replaced by a new object after envctl read it; left alone this time", e)))
	default:
		return r.fail(t, clusterErr(ctx, "delete", e, err))
	}
	return t
}

// waitGone polls until every pruned target is gone or ctx ends; those still
// present then fail with a timeout naming the finalizers that hold them.
func (r *runner) waitGone(ctx context.Context, targets []*target) {
	var pending []*target
	for _, t := range targets {
		if t.item.Outcome == Pruned {
			pending = append(pending, t)
		}
	}
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for len(pending) > 0 {
		var still []*target
		for _, t := range pending {
			live, err := t.res.Get(ctx, t.item.Entry.Name, metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err), err == nil && live.GetUID() != t.uid:
				// Gone; a new object of the same name is not ours to wait for.
			case err == nil:
				t.finalizers = live.GetFinalizers()
				still = append(still, t)
			case ctx.Err() != nil:
				still = append(still, t)
			default:
				r.fail(t, clusterErr(ctx, "read", t.item.Entry, err))
			}
		}
		pending = still
		if len(pending) == 0 {
			return
		}
		select {
		case <-ctx.Done():
			for _, t := range pending {
				msg := fmt.Sprintf("prune %s: still present when the wait ended", t.item.Entry)
				if len(t.finalizers) > 0 {
					msg += " (finalizers: " + strings.Join(t.finalizers, ", ") + ")"
				}
				r.fail(t, errs.Timeout(errors.New(msg)))
			}
			return
		case <-ticker.C:
		}
	}
}

func (r *runner) fail(t *target, err error) *target {
	t.item.Outcome, t.item.Err, t.item.Reason = Failed, err, err.Error()
	r.opts.Logger.Debug("prune failed", "object", t.item.Entry.String(), "error", err)
	return t
}

func (r *runner) skip(t *target, reason string) *target {
	t.item.Outcome, t.item.Reason = Skipped, reason
	r.opts.Logger.Info("not pruned", "object", t.item.Entry.String(), "reason", reason)
	return t
}

// resource returns the dynamic client for ref's kind, in ref's namespace.
// The version the inventory recorded may no longer be served after an
// upgrade; the object is then reached through the preferred version.
func (r *runner) resource(ctx context.Context, ref object.Ref) (dynamic.ResourceInterface, error) {
	mapping, err := r.client.Mapper.Mapping(ctx, ref.GroupVersionKind())
	if meta.IsNoMatchError(err) && ref.Version != "" {
		gvk := ref.GroupVersionKind()
		gvk.Version = ""
		mapping, err = r.client.Mapper.Mapping(ctx, gvk)
	}
	if err != nil {
		return nil, err
	}
	res := r.client.Dynamic.Resource(mapping.Resource)
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		return res.Namespace(ref.Namespace), nil
	}
	return res, nil
}

func clusterErr(ctx context.Context, verb string, e inventory.Entry, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return errs.Timeout(fmt.Errorf("prune %s: %s: %w", e, verb, ctx.Err()))
	}
	return errs.Cluster(fmt.Errorf("prune %s: %s: %w", e, verb, err))
}
