package plan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/envctl/envctl/internal/apply"
	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/kube"
	"github.com/envctl/envctl/internal/object"
	"github.com/envctl/envctl/internal/ownership"
	"github.com/envctl/envctl/internal/render"
)

// object is one rendered object on its way through the plan.
type planned struct {
	component string
	obj       *unstructured.Unstructured
	// prep is obj as the apply would write it; nil when its kind is not
	// served yet.
	prep *apply.Prepared
	item Item
}

// Compute plans the apply of rendered through client, as writer would
// write it: the same prepared form, unchanged rule and request, as a
// dry-run. The plan lists every
// object in render order, then the objects to prune; the error joins the
// objects whose dry-run failed (the plan still holds the rest). An error
// that stops the plan as a whole (the cluster cannot be listed) returns no
// plan.
func Compute(ctx context.Context, client *kube.Client, writer *apply.Manager, rendered *render.Result, opts Options) (*Plan, error) {
	if opts.Concurrency < 1 {
		opts.Concurrency = 16
	}
	if opts.Context <= 0 {
		opts.Context = 3
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	c := &computer{client: client, w: writer, opts: opts, declaredNS: map[string]bool{}, crdKinds: map[schema.GroupKind]string{}}
	var objs []*planned
	for _, comp := range rendered.Components {
		for _, o := range comp.Objects {
			objs = append(objs, &planned{component: comp.Name, obj: o})
			c.declare(o)
		}
	}
	for _, o := range objs {
		c.resolve(ctx, o)
	}
	var refs []object.Ref
	for _, o := range objs {
		if o.prep != nil {
			refs = append(refs, o.item.Ref)
		}
	}
	// Every environment's objects, so that one of another environment is
	// seen (and not planned as taken over).
	live, err := client.ListLive(ctx, refs, ownership.AnyEnvironment)
	if err != nil {
		return nil, err
	}
	c.live = live
	c.previous = opts.Previous.Index()

	sem := make(chan struct{}, opts.Concurrency)
	var wg sync.WaitGroup
	for _, o := range objs {
		if o.item.Action != "" {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c.plan(ctx, o)
		})
	}
	wg.Wait()

	p := &Plan{Environment: opts.Environment}
	current := make([]inventory.Entry, 0, len(objs))
	for _, o := range objs {
		if o.prep != nil && o.item.Action != Error {
			if note := apply.DescribeLeft(o.prep.Left); note != "" {
				o.item.Note = strings.TrimPrefix(o.item.Note+"; "+note, "; ")
			}
		}
		p.Items = append(p.Items, o.item)
		current = append(current, inventory.Entry{Ref: o.item.Ref, Component: o.component})
		opts.Logger.Debug("planned", "object", o.item.Ref.String(), "action", o.item.Action)
	}
	if err := c.planPrune(ctx, p, current); err != nil {
		return nil, err
	}
	return p, p.Err()
}

type computer struct {
	client *kube.Client
	w      *apply.Manager
	opts   Options
	// declaredNS are the Namespaces the render declares; crdKinds the kinds
	// its CRDs define, with the CRD's name.
	declaredNS map[string]bool
	crdKinds   map[schema.GroupKind]string
	live       map[object.Key]*unstructured.Unstructured
	previous   map[object.Key]inventory.Entry
}

var crdGroupKind = schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}

// declare notes what obj makes exist when applied.
func (c *computer) declare(obj *unstructured.Unstructured) {
	gk := obj.GroupVersionKind().GroupKind()
	switch gk {
	case schema.GroupKind{Kind: "Namespace"}:
		c.declaredNS[obj.GetName()] = true
	case crdGroupKind:
		group, _, _ := unstructured.NestedString(obj.Object, "spec", "group")
		kind, _, _ := unstructured.NestedString(obj.Object, "spec", "names", "kind")
		if kind != "" {
			c.crdKinds[schema.GroupKind{Group: group, Kind: kind}] = obj.GetName()
		}
	}
}

// resolve finds o's REST mapping and puts its namespace in the form the
// apply uses (namespaced objects without one go to "default"). A kind the
// cluster does not serve yet is planned right here: created, without a
// dry-run, when a CRD of the render defines it; an error otherwise.
func (c *computer) resolve(ctx context.Context, o *planned) {
	gvk := o.obj.GroupVersionKind()
	o.item = Item{Ref: object.RefOf(o.obj), Component: o.component}
	mapping, err := c.client.Mapper.Mapping(ctx, gvk)
	if meta.IsNoMatchError(err) {
		if crd, ok := c.crdKinds[gvk.GroupKind()]; ok {
			c.createUnchecked(o, fmt.Sprintf("its kind is defined by CustomResourceDefinition %s, which this apply creates or updates; shown as rendered, without a dry-run", crd))
			return
		}
		c.fail(o, errs.Input(fmt.Errorf("%s (component %s): %w", o.item.Ref, o.component, &kube.UnknownKindError{GVK: gvk})))
		return
	}
	if err != nil {
		c.fail(o, errs.Cluster(fmt.Errorf("%s: discover kind %s: %w", o.item.Ref, gvk, err)))
		return
	}
	p, err := c.w.Prepare(o.obj, mapping)
	if err != nil {
		c.fail(o, err)
		return
	}
	o.prep, o.obj, o.item.Ref = p, p.Desired, p.Ref
}

// plan dry-runs o and compares the result with the live object.
func (c *computer) plan(ctx context.Context, o *planned) {
	key := o.item.Ref.Key()
	live := c.live[key]
	if live != nil {
		if owner := live.GetLabels()[ownership.LabelEnvironment]; owner != c.opts.Environment {
			if !c.opts.Adopt {
				c.fail(o, errs.Conflict(&apply.OwnershipError{Object: o.item.Ref.String(), Owner: owner, Environment: c.opts.Environment}))
				return
			}
			// Planned as the take-over --adopt makes it.
			c.foreign(ctx, o, live, owner)
			return
		}
	}
	if prev, ok := c.previous[key]; ok && c.w.Unchanged(o.prep, live, apply.Recorded{Digest: prev.Digest, Fields: prev.Fields}) {
		// What the apply's own unchanged check sees: it would not write, so
		// there is nothing to dry-run.
		o.item.Action = Unchanged
		return
	}
	out, created, err := c.dryRun(ctx, o)
	if err != nil {
		if ns := o.obj.GetNamespace(); c.declaredNS[ns] && isNamespaceNotFound(err, ns) {
			c.createUnchecked(o, fmt.Sprintf("its Namespace %s is created by this apply; shown as rendered, without a dry-run", ns))
			return
		}
		c.fail(o, err)
		return
	}
	if created {
		c.diff(o, nil, out)
		return
	}
	if live == nil {
		// Not labelled for this environment, so the LIST missed it: it was
		// made outside envctl or by another environment, and the apply
		// would take it over.
		live, err = c.get(ctx, o)
		if err != nil {
			c.fail(o, kube.ClassifyError(ctx, "read", c.describe(o), o.obj, err))
			return
		}
		o.item.Note = "exists without envctl's labels; the apply would adopt it"
	}
	c.diff(o, live, out)
}

// dryRun writes o as the apply would, as a dry-run.
func (c *computer) dryRun(ctx context.Context, o *planned) (*unstructured.Unstructured, bool, error) {
	return c.w.Write(ctx, o.prep, apply.WriteOptions{Force: c.opts.ForceConflicts, DryRun: true, Describe: c.describe(o)})
}

// describe names o and its component in messages.
func (c *computer) describe(o *planned) string {
	return fmt.Sprintf("%s (component %s)", o.item.Ref, o.component)
}

// foreign plans the take-over (--adopt) of live, an object labelled for
// environment owner.
func (c *computer) foreign(ctx context.Context, o *planned, live *unstructured.Unstructured, owner string) {
	out, _, err := c.dryRun(ctx, o)
	if err != nil {
		c.fail(o, err)
		return
	}
	c.diff(o, live, out)
	o.item.Note = fmt.Sprintf("belongs to environment %q; the apply would take it over (--adopt)", owner)
}

// diff sets o's action and diff from the live object (nil when there is
// none) and the object as it would be after the apply.
func (c *computer) diff(o *planned, live, after *unstructured.Unstructured) {
	before, afterC := clean(live), clean(after)
	maskSecrets(before, afterC)
	maskSensitive(before, c.opts.Sensitive)
	maskSensitive(afterC, c.opts.Sensitive)
	yb, err1 := toYAML(before)
	ya, err2 := toYAML(afterC)
	if err := errors.Join(err1, err2); err != nil {
		c.fail(o, fmt.Errorf("%s: render YAML for the diff: %w", o.item.Ref, err))
		return
	}
	from := o.item.Ref.String() + " (live)"
	switch {
	case live == nil:
		o.item.Action = Create
		from = "/dev/null"
	case yb == ya:
		o.item.Action = Unchanged
		return
	default:
		o.item.Action = Change
	}
	o.item.Diff = unifiedDiff(from, o.item.Ref.String()+" (after apply)", yb, ya, c.opts.Context)
}

// createUnchecked plans o as a create of the object as rendered, for when
// the server cannot dry-run it yet.
func (c *computer) createUnchecked(o *planned, note string) {
	c.diff(o, nil, o.obj)
	o.item.Note = note
}

func (c *computer) fail(o *planned, err error) {
	o.item.Action = Error
	o.item.Error = err.Error()
	o.item.err = err
}

func (c *computer) get(ctx context.Context, o *planned) (*unstructured.Unstructured, error) {
	res := c.client.Dynamic.Resource(o.prep.Mapping.Resource)
	if o.prep.Mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		return res.Namespace(o.obj.GetNamespace()).Get(ctx, o.obj.GetName(), metav1.GetOptions{})
	}
	return res.Get(ctx, o.obj.GetName(), metav1.GetOptions{})
}

// isNamespaceNotFound reports whether err says that namespace ns does not
// exist.
func isNamespaceNotFound(err error, ns string) bool {
	var status apierrors.APIStatus
	if !apierrors.IsNotFound(err) || !errors.As(err, &status) {
		return false
	}
	d := status.Status().Details
	return d != nil && d.Kind == "namespaces" && d.Name == ns
}
