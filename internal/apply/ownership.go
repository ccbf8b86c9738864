package apply

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/kube"
	"github.com/envctl/envctl/internal/ownership"
)

// OwnershipError reports an object that exists labelled for another
// environment. envctl does not take it over silently: the other
// environment's next run would take it back, and its prune could delete
// it. The error is classified as a conflict (exit 5).
type OwnershipError struct {
	Object string
	// Owner is the environment the object's labels name.
	Owner string
	// Environment is the environment that tried to apply it.
	Environment string
}

func (e *OwnershipError) Error() string {
	return fmt.Sprintf("apply %s: it exists and belongs to environment %q (label %s), not %q; not taken over. "+
		"Remove it from one of the environments, or rerun with --adopt to take it over",
		e.Object, e.Owner, ownership.LabelEnvironment, e.Environment)
}

// Adoption notes, for Change.Adopted.
const (
	// AdoptedUnlabelled: the object existed without envctl's labels.
	AdoptedUnlabelled = "it existed without envctl's labels"
)

// adoptedFrom is the Adopted note of an object taken over from another
// environment with --adopt.
func adoptedFrom(owner string) string {
	return fmt.Sprintf("it belonged to environment %q", owner)
}

// CheckOwner reads the live object of p (its metadata) and refuses to
// write it when it is labelled for another environment than env: an
// *OwnershipError classified as a conflict. A missing or unlabelled object
// may be written, as the apply takes it. The drift correction of an object
// that left the environment's watch asks this first: a foreign label is a
// conflict, not a drift to undo.
func (m *Manager) CheckOwner(ctx context.Context, p *Prepared, env string) error {
	res := m.client.Metadata.Resource(p.Mapping.Resource)
	var (
		live *metav1.PartialObjectMetadata
		err  error
	)
	if p.Mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		live, err = res.Namespace(p.Ref.Namespace).Get(ctx, p.Ref.Name, metav1.GetOptions{})
	} else {
		live, err = res.Get(ctx, p.Ref.Name, metav1.GetOptions{})
	}
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return kube.ClassifyError(ctx, "read", p.Ref.String(), p.Desired, err)
	}
	if owner := live.Labels[ownership.LabelEnvironment]; owner != "" && owner != env {
		return errs.Conflict(&OwnershipError{Object: p.Ref.String(), Owner: owner, Environment: env})
	}
	return nil
}
