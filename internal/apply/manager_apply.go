package apply

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/kube"
	"github.com/envctl/envctl/internal/object"
	"github.com/envctl/envctl/internal/ownership"
	"github.com/envctl/envctl/internal/testhook"
)

// Apply applies objs in stages and returns what it did with each. Objects
// of a stage are applied concurrently; a stage with a failed object stops
// the apply before the next stage, whose objects are then left out of the
// change set. The error is ChangeSet.Err, or an error that stopped the apply
// as a whole (a CRD that never became established, a LIST that failed).
func (m *Manager) Apply(ctx context.Context, objs []*unstructured.Unstructured, opts Options) (*ChangeSet, error) {
	opts.defaults()
	run := &applyRun{
		m: m, opts: opts, objs: objs,
		results:   make([]Change, len(objs)),
		decisions: make([]*decision, len(objs)),
		crds:      definedKinds(objs),
	}
	live, err := m.liveFor(ctx, objs, opts)
	if err != nil {
		return &ChangeSet{}, err
	}
	run.live = live

	// Decide up front what needs writing, so that BeforeWrite runs before
	// the first write, and not at all when nothing is to be written.
	if run.decideAll(ctx) && opts.BeforeWrite != nil {
		if err := opts.BeforeWrite(ctx); err != nil {
			return &ChangeSet{}, err
		}
	}
	for stage, idx := range stages(objs) {
		run.applyAll(ctx, idx)
		if cs := run.changeSet(); cs.Count(Failed) > 0 {
			return cs, cs.Err()
		}
		if err := interrupted(ctx); err != nil {
			return run.changeSet(), err
		}
		if stage == stageDefinitions {
			if err := run.establishCRDs(ctx, idx); err != nil {
				return run.changeSet(), err
			}
		}
	}
	cs := run.changeSet()
	return cs, cs.Err()
}

// applyRun is the state of one Apply call.
type applyRun struct {
	m    *Manager
	opts Options
	objs []*unstructured.Unstructured
	live map[object.Key]*unstructured.Unstructured
	crds map[schema.GroupKind]bool
	// decisions are made before any write for the objects whose kind is
	// known; the others (kinds defined by a CRD of this apply) are decided
	// at their stage.
	decisions []*decision
	mu        sync.Mutex
	results   []Change
}

// changeSet returns the outcomes so far, in input order.
func (r *applyRun) changeSet() *ChangeSet {
	r.mu.Lock()
	defer r.mu.Unlock()
	cs := &ChangeSet{}
	for _, c := range r.results {
		if c.Action != "" {
			cs.Changes = append(cs.Changes, c)
		}
	}
	return cs
}

// applyAll applies the objects at idx concurrently, bounded by the
// Manager's shared limit.
//
// Once ctx ends (Ctrl-C, SIGTERM, a deadline) no further object is started;
// those are left out of the change set. Requests already sent are let
// finish (see applyOne), so that what the server did is known and recorded.
func (r *applyRun) applyAll(ctx context.Context, idx []int) {
	var wg sync.WaitGroup
	for _, i := range idx {
		if ctx.Err() != nil {
			break
		}
		acquired := false
		select {
		case r.m.sem <- struct{}{}:
			acquired = true
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			if acquired {
				<-r.m.sem
			}
			break
		}
		wg.Go(func() {
			defer func() { <-r.m.sem }()
			r.record(i, r.applyOne(ctx, i))
		})
	}
	wg.Wait()
}

func (r *applyRun) record(i int, c Change) {
	r.mu.Lock()
	r.results[i] = c
	r.mu.Unlock()
	if r.opts.OnChange != nil {
		r.opts.OnChange(c)
	}
}

func failed(ref object.Ref, err error) Change {
	return Change{Ref: ref, Action: Failed, Err: err}
}

// decision is what the unchanged check found for one object.
type decision struct {
	*Prepared
	live      *unstructured.Unstructured
	fields    string // recorded owned-fields hash, when unchanged
	unchanged bool
	// owner is the other environment whose labels the live object
	// carries; "" when it is this environment's, or there is none.
	owner string
}

// decideAll decides every object whose kind the cluster already serves and
// reports whether anything will be written: an object that changed, or
// whose kind is not served yet (its CRD is part of this apply).
func (r *applyRun) decideAll(ctx context.Context) bool {
	write := false
	for i, obj := range r.objs {
		mapping, err := r.m.client.Mapper.Mapping(ctx, obj.GroupVersionKind())
		if err != nil {
			write = true // decided, and reported, at its stage
			continue
		}
		d, err := r.decide(obj, mapping)
		if err != nil {
			write = true
			continue
		}
		r.decisions[i] = d
		write = write || !d.unchanged
	}
	return write
}

// decide runs the unchanged check (Manager.Unchanged) on obj as prepared.
func (r *applyRun) decide(obj *unstructured.Unstructured, mapping *meta.RESTMapping) (*decision, error) {
	p, err := r.m.Prepare(obj, mapping)
	if err != nil {
		return nil, err
	}
	d := &decision{Prepared: p}
	key := p.Ref.Key()
	d.live = r.live[key]
	if d.live != nil && r.opts.Environment != "" {
		if owner := d.live.GetLabels()[ownership.LabelEnvironment]; owner != r.opts.Environment {
			// Listed with every environment's objects: this one is another's.
			d.owner = owner
			return d, nil
		}
	}
	if prev, ok := r.opts.Previous[key]; ok && r.m.Unchanged(p, d.live, prev) {
		d.unchanged, d.fields = true, prev.Fields
	}
	return d, nil
}

// applyOne applies the object at index i unless the unchanged check says
// it need not.
func (r *applyRun) applyOne(ctx context.Context, i int) Change {
	obj := r.objs[i]
	d := r.decisions[i]
	if d == nil {
		mapping, err := r.mapping(ctx, obj.GroupVersionKind())
		if err != nil {
			return failed(object.RefOf(obj), err)
		}
		if d, err = r.decide(obj, mapping); err != nil {
			return failed(object.RefOf(obj), err)
		}
	}
	if d.unchanged {
		return Change{Ref: d.Ref, Action: Unchanged, Digest: d.Digest, Fields: d.fields, Object: d.live}
	}
	adopted := ""
	if d.owner != "" {
		if !r.opts.Adopt {
			return failed(d.Ref, errs.Conflict(&OwnershipError{Object: d.Ref.String(), Owner: d.owner, Environment: r.opts.Environment}))
		}
		adopted = adoptedFrom(d.owner)
	}

	// A request sent is let finish even when ctx ends (Ctrl-C): its outcome
	// is then known and recorded in the inventory. The server's own request
	// timeout bounds it.
	out, created, err := r.m.Write(context.WithoutCancel(ctx), d.Prepared, WriteOptions{Force: r.opts.ForceConflicts})
	action := Configured
	switch {
	case err != nil:
		var imm *kube.ImmutableError
		if !errors.As(err, &imm) || !(r.opts.ForceRecreate || d.Desired.GetAnnotations()[kube.ForceRecreateAnnotation] == "true") {
			return failed(d.Ref, err)
		}
		out, err = r.recreate(ctx, d.Prepared)
		if err != nil {
			return failed(d.Ref, err)
		}
		action = Recreated
	case created:
		action = Created
	case d.live != nil && out.GetResourceVersion() == d.live.GetResourceVersion():
		// The server found nothing to change: the inventory was lost or is
		// from another run, but the object is as declared.
		action = Unchanged
	case d.live == nil && r.opts.Environment != "" && r.opts.Selector != "":
		// It existed, yet no environment's labels were on it.
		adopted = AdoptedUnlabelled
	}
	if action != Unchanged {
		testhook.Reached(ctx, testhook.Apply)
	}
	r.m.log.Debug("applied", "object", d.Ref.String(), "action", action)
	return Change{Ref: d.Ref, Action: action, Digest: d.Digest, Fields: kube.FieldsHash(out, r.m.owner), Object: out, Adopted: adopted}
}

// mapping returns the REST mapping of gvk. A kind defined by a CRD of this
// apply may take a moment to appear in discovery after the CRD is
// established, so it is retried until CRDTimeout.
func (r *applyRun) mapping(ctx context.Context, gvk schema.GroupVersionKind) (*meta.RESTMapping, error) {
	mapping, err := r.m.client.Mapper.Mapping(ctx, gvk)
	if err == nil {
		return mapping, nil
	}
	ref := object.Ref{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind}
	if !meta.IsNoMatchError(err) {
		return nil, errs.Cluster(fmt.Errorf("discover kind %s: %w", ref.GroupVersionKind(), err))
	}
	if !r.crds[gvk.GroupKind()] {
		return nil, errs.Input(&kube.UnknownKindError{GVK: gvk})
	}
	err = poll(ctx, r.opts.CRDTimeout, func() (bool, error) {
		r.m.client.Mapper.Reset()
		mapping, err = r.m.client.Mapper.Mapping(ctx, gvk)
		if meta.IsNoMatchError(err) {
			return false, nil
		}
		return err == nil, err
	})
	if err != nil {
		return nil, errs.Timeout(fmt.Errorf("kind %s, defined by a CRD of this component, is not served after %s: %w", gvk, r.opts.CRDTimeout, err))
	}
	return mapping, nil
}

// definedKinds returns the group and kind each CRD among objs defines.
func definedKinds(objs []*unstructured.Unstructured) map[schema.GroupKind]bool {
	out := map[schema.GroupKind]bool{}
	for _, o := range objs {
		if !isCRD(o) {
			continue
		}
		group, _, _ := unstructured.NestedString(o.Object, "spec", "group")
		kind, _, _ := unstructured.NestedString(o.Object, "spec", "names", "kind")
		if kind != "" {
			out[schema.GroupKind{Group: group, Kind: kind}] = true
		}
	}
	return out
}

// interrupted is the error of an apply that stopped starting objects because
// ctx ended; nil while ctx has not.
func interrupted(ctx context.Context) error {
	if ctx.Err() == nil {
		return nil
	}
	err := fmt.Errorf("apply stopped before every object was sent: %w", context.Cause(ctx))
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return errs.Timeout(err)
	}
	return err
}
