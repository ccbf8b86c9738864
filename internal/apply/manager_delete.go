package apply

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/kube"
	"github.com/envctl/envctl/internal/object"
)

// DeleteOptions configure Delete.
type DeleteOptions struct {
	// Wait waits until the object is gone, up to Timeout.
	Wait    bool
	Timeout time.Duration
}

// Delete deletes obj (identified by kind, namespace and name) with
// background propagation, and with Wait until it is gone. An object that
// does not exist is not an error. Helm hooks use it for their delete
// policies; prune has its own, guarded, deletion.
func (m *Manager) Delete(ctx context.Context, obj *unstructured.Unstructured, opts DeleteOptions) error {
	ref := object.RefOf(obj)
	mapping, err := m.client.Mapper.Mapping(ctx, obj.GroupVersionKind())
	if meta.IsNoMatchError(err) {
		return nil // no such kind, so no such object
	}
	if err != nil {
		return errs.Cluster(fmt.Errorf("delete %s: %w", ref, err))
	}
	obj = InScope(obj, mapping)
	res := m.client.Dynamic.Resource(mapping.Resource).Namespace(obj.GetNamespace())
	policy := metav1.DeletePropagationBackground
	err = res.Delete(ctx, obj.GetName(), metav1.DeleteOptions{PropagationPolicy: &policy})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return kube.ClassifyError(ctx, "delete", ref.String(), obj, err)
	}
	if !opts.Wait {
		return nil
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultOptions().DeleteTimeout
	}
	err = poll(ctx, opts.Timeout, func() (bool, error) {
		_, err := res.Get(ctx, obj.GetName(), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
	if err != nil && errs.KindOf(err) == errs.KindUnknown {
		return errs.Timeout(fmt.Errorf("delete %s: still present after %s (a finalizer may hold it): %w", ref, opts.Timeout, err))
	}
	return err
}
