package apply

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/envctl/envctl/internal/errs"
)

var crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// establishCRDs waits until every CRD among the objects at idx is
// established, then resets the REST mapper if any was written, so that the
// next stage can map the kinds they define. A CRD that was unchanged and
// already established costs nothing.
func (r *applyRun) establishCRDs(ctx context.Context, idx []int) error {
	pending := map[string]bool{}
	wrote := false
	r.mu.Lock()
	for _, i := range idx {
		c := r.results[i]
		if !isCRD(r.objs[i]) || c.Action == Failed {
			continue
		}
		if c.Action != Unchanged {
			wrote = true
		}
		if ok, _ := crdEstablished(c.Object); !ok {
			pending[c.Ref.Name] = true
		}
	}
	r.mu.Unlock()
	if len(pending) > 0 {
		err := poll(ctx, r.opts.CRDTimeout, func() (bool, error) {
			for name := range pending {
				crd, err := r.m.client.Dynamic.Resource(crdResource).Get(ctx, name, metav1.GetOptions{})
				if err != nil {
					if apierrors.IsNotFound(err) {
						return false, nil
					}
					return false, errs.Cluster(fmt.Errorf("get CustomResourceDefinition %s: %w", name, err))
				}
				ok, err := crdEstablished(crd)
				if err != nil {
					return false, err
				}
				if ok {
					delete(pending, name)
				}
			}
			return len(pending) == 0, nil
		})
		if err != nil {
			names := make([]string, 0, len(pending))
			for n := range pending {
				names = append(names, n)
			}
			if errs.KindOf(err) != errs.KindUnknown {
				return err
			}
			return errs.Timeout(fmt.Errorf("CustomResourceDefinition %s not established after %s: %w", strings.Join(names, ", "), r.opts.CRDTimeout, err))
		}
	}
	if wrote {
		r.m.client.Mapper.Reset()
	}
	return nil
}

// crdEstablished reads a CRD's conditions. A CRD whose names the server
// refused will never be established, which is the user's to fix.
func crdEstablished(crd *unstructured.Unstructured) (bool, error) {
	if crd == nil {
		return false, nil
	}
	conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	established := false
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if !ok {
			continue
		}
		switch m["type"] {
		case "NamesAccepted":
			if m["status"] == "False" {
				return false, errs.Input(fmt.Errorf("CustomResourceDefinition %s: names not accepted: %v", crd.GetName(), m["message"]))
			}
		case "Established":
			established = m["status"] == "True"
		}
	}
	return established, nil
}

// errPollTimeout is wrapped by poll's error when the time is up.
var errPollTimeout = errors.New("timed out")

// poll calls cond until it reports done, returns an error, ctx ends or
// timeout passes. The interval starts short, because what envctl waits for
// (a CRD established, an object gone) usually takes well under a second, and
// grows to a second so that a long wait stays cheap.
func poll(ctx context.Context, timeout time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	interval := 50 * time.Millisecond
	for {
		done, err := cond()
		if err != nil || done {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w after %s", errPollTimeout, timeout)
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		interval = min(interval*2, time.Second)
	}
}
