package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"

	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/object"
	"github.com/envctl/envctl/internal/ownership"
)

// Health is how an applied environment stands now: what its inventory
// says was applied, and each object's health as kstatus judges it.
type Health struct {
	Environment string `json:"environment"`
	// Revision is the source revision last applied.
	Revision  string    `json:"revision"`
	AppliedAt time.Time `json:"appliedAt"`
	// Healthy is true when every object is Current.
	Healthy    bool              `json:"healthy"`
	Components []ComponentHealth `json:"components"`
}

// ComponentHealth is one component's objects and their worst status.
type ComponentHealth struct {
	Name    string         `json:"name"`
	Status  kstatus.Status `json:"status"`
	Objects []ObjectHealth `json:"objects"`
}

// ObjectHealth is one object's status.
type ObjectHealth struct {
	Ref     object.Ref     `json:"ref"`
	Status  kstatus.Status `json:"status"`
	Message string         `json:"message,omitempty"`
}

// NotHealthy counts the objects that are not Current, and all of them.
func (h *Health) NotHealthy() (bad, total int) {
	for _, c := range h.Components {
		for _, ob := range c.Objects {
			total++
			if ob.Status != kstatus.CurrentStatus {
				bad++
			}
		}
	}
	return bad, total
}

// Status reads the environment's inventory and the live state of every
// object in it (one LIST per kind, a GET for an object the LIST missed).
// An environment never applied is an input error.
func (e *Engine) Status(ctx context.Context, req Request) (*Health, error) {
	if e.client == nil {
		return nil, errOffline
	}
	name := req.Declared.Env.Name()
	inv, err := inventory.NewStore(e.State()).Load(ctx, name)
	if errors.Is(err, inventory.ErrNotFound) {
		return nil, errs.Inputf("environment %s was never applied to this cluster (no inventory ConfigMap %s/%s); apply it with `envctl up %s` or `envctl apply %s`",
			name, inventory.Namespace, inventory.ConfigMapName(name, 0), name, name)
	}
	if err != nil {
		return nil, err
	}
	refs := make([]object.Ref, len(inv.Entries))
	for i, en := range inv.Entries {
		refs[i] = en.Ref
	}
	live, err := e.client.ListLive(ctx, refs, ownership.Environment(inv.Environment))
	if err != nil {
		return nil, err
	}
	h := &Health{Environment: inv.Environment, Revision: inv.Revision, AppliedAt: inv.AppliedAt, Healthy: true}
	byComponent := map[string]*ComponentHealth{}
	var order []string
	component := func(name string) *ComponentHealth {
		c := byComponent[name]
		if c == nil {
			c = &ComponentHealth{Name: name, Status: kstatus.CurrentStatus}
			byComponent[name] = c
			order = append(order, name)
		}
		return c
	}
	for _, name := range inv.Components {
		component(name)
	}
	for _, en := range inv.Entries {
		obj := live[en.Key()]
		if obj == nil {
			// Not returned by the LIST: gone, or its labels were changed.
			if obj, err = e.get(ctx, en.Ref); err != nil {
				return nil, err
			}
		}
		oh := objectHealth(en.Ref, obj)
		c := component(en.Component)
		c.Objects = append(c.Objects, oh)
		if severity(oh.Status) > severity(c.Status) {
			c.Status = oh.Status
		}
		h.Healthy = h.Healthy && oh.Status == kstatus.CurrentStatus
	}
	for _, name := range order {
		c := byComponent[name]
		if len(c.Objects) == 0 {
			continue
		}
		// In the order they were applied, as a reader of the manifests
		// expects: Namespaces and configuration before workloads.
		slices.SortStableFunc(c.Objects, func(a, b ObjectHealth) int {
			return cmp.Or(
				cmp.Compare(object.KindRank(a.Ref.Kind), object.KindRank(b.Ref.Kind)),
				cmp.Compare(a.Ref.Namespace, b.Ref.Namespace),
				cmp.Compare(a.Ref.Name, b.Ref.Name),
			)
		})
		h.Components = append(h.Components, *c)
	}
	return h, nil
}

// objectHealth judges obj (nil: not found) with kstatus.
func objectHealth(ref object.Ref, obj *unstructured.Unstructured) ObjectHealth {
	h := ObjectHealth{Ref: ref, Status: kstatus.NotFoundStatus, Message: "not found in the cluster"}
	if obj == nil {
		return h
	}
	res, err := kstatus.Compute(obj)
	if err != nil {
		h.Status, h.Message = kstatus.UnknownStatus, err.Error()
	} else {
		h.Status, h.Message = res.Status, res.Message
	}
	return h
}

// get reads one object; nil when it does not exist or its kind is not served.
func (e *Engine) get(ctx context.Context, ref object.Ref) (*unstructured.Unstructured, error) {
	mapping, err := e.client.Mapper.Mapping(ctx, ref.GroupVersionKind())
	if meta.IsNoMatchError(err) {
		return nil, nil
	}
	if err != nil {
		return nil, errs.Cluster(fmt.Errorf("discover kind of %s: %w", ref, err))
	}
	res := e.client.Dynamic.Resource(mapping.Resource)
	var obj *unstructured.Unstructured
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		obj, err = res.Namespace(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	} else {
		obj, err = res.Get(ctx, ref.Name, metav1.GetOptions{})
	}
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, errs.Cluster(fmt.Errorf("read %s: %w", ref, err))
	}
	return obj, nil
}

// severity orders statuses so that a component shows its worst object's.
func severity(s kstatus.Status) int {
	switch s {
	case kstatus.CurrentStatus:
		return 0
	case kstatus.InProgressStatus:
		return 1
	case kstatus.TerminatingStatus:
		return 2
	case kstatus.UnknownStatus:
		return 3
	case kstatus.NotFoundStatus:
		return 4
	default: // Failed
		return 5
	}
}
