package apply

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/kube"
)

// recreate deletes the live object of p, waits until it is gone and writes
// p again, for a change to an immutable field that the user asked to
// recreate. Dependents (a Job's pods, a ReplicaSet's) go with the object,
// in the background.
func (r *applyRun) recreate(ctx context.Context, p *Prepared) (*unstructured.Unstructured, error) {
	ref, send := p.Ref, p.Desired
	res := r.m.client.Dynamic.Resource(p.Mapping.Resource).Namespace(send.GetNamespace())
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
	out, _, err := r.m.Write(ctx, p, WriteOptions{Force: r.opts.ForceConflicts, Describe: ref.String() + " (recreated)"})
	if err != nil {
		return nil, err
	}
	r.m.log.Info("recreated after an immutable change", "object", ref.String())
	return out, nil
}
