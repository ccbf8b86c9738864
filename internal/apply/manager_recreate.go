package apply

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/kube"
)

// recreate deletes the live object of send, waits until it is gone and
// applies send again, for a change to an immutable field that the user
// asked to recreate. Dependents (a Job's pods, a ReplicaSet's) go with the
// object, in the background.
func (r *applyRun) recreate(ctx context.Context, mapping *meta.RESTMapping, send *unstructured.Unstructured, ref inventory.Ref) (*unstructured.Unstructured, error) {
	res := r.m.client.Dynamic.Resource(mapping.Resource).Namespace(send.GetNamespace())
	policy := metav1.DeletePropagationBackground
	err := res.Delete(ctx, send.GetName(), metav1.DeleteOptions{PropagationPolicy: &policy})
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, kube.ClassifyError(ctx, "delete (to recreate)", ref.String(), send, err)
	}
	err = poll(ctx, r.opts.DeleteTimeout, func() (bool, error) {
		_, err := res.Get(ctx, send.GetName(), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
	if err != nil {
		if errs.KindOf(err) != errs.KindUnknown {
			return nil, err
		}
		return nil, errs.Timeout(fmt.Errorf("recreate %s: still present %s after deleting it (a finalizer may hold it): %w", ref, r.opts.DeleteTimeout, err))
	}
	out, _, err := r.m.client.Apply(ctx, mapping, send, kube.ApplyOptions{FieldManager: r.m.owner, Force: r.opts.ForceConflicts})
	if err != nil {
		return nil, kube.ClassifyError(ctx, "recreate", ref.String(), send, err)
	}
	r.m.log.Info("recreated after an immutable change", "object", ref.String())
	return out, nil
}
