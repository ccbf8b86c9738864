package inventory

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/ownership"
)

// EnsureNamespace creates envctl's namespace (name, usually Namespace) if
// it is missing, labelled as envctl's so that `envctl down` of the last
// environment may remove it. A namespace being deleted (by such a down) is
// waited for and made again, since nothing can be created in it meanwhile.
// The inventory store and the environment lease both keep their objects
// there.
func EnsureNamespace(ctx context.Context, client kubernetes.Interface, name string) error {
	namespaces := client.CoreV1().Namespaces()
	// Looked up before it is created: a writer allowed into the namespace
	// (a daemon's ServiceAccount) need not be allowed to create namespaces,
	// and the API server refuses such a create before it finds the
	// namespace there.
	existing, err := namespaces.Get(ctx, name, metav1.GetOptions{})
	if err == nil && existing.DeletionTimestamp == nil {
		return nil
	}
	if err == nil {
		// Being deleted, say by an `envctl down` of the last other
		// environment: nothing can be created in it until it is gone.
		if err := waitNamespaceGone(ctx, client, name); err != nil {
			return err
		}
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:   name,
		Labels: map[string]string{ownership.LabelManagedBy: ownership.ManagedByValue},
	}}
	if _, err := namespaces.Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return errs.Cluster(fmt.Errorf("create namespace %s: %w", name, err))
	}
	return nil
}

// namespaceWait bounds how long Save and Delete wait for a terminating
// namespace to go; the namespace controller usually needs a few seconds.
const namespaceWait = 2 * time.Minute

// waitNamespaceGone polls until namespace name no longer exists.
func waitNamespaceGone(ctx context.Context, client kubernetes.Interface, name string) error {
	ctx, cancel := context.WithTimeout(ctx, namespaceWait)
	defer cancel()
	for {
		_, err := client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if ctx.Err() != nil {
			return errs.Timeout(fmt.Errorf("namespace %s is still terminating after %s", name, namespaceWait))
		}
		if err != nil {
			return errs.Cluster(fmt.Errorf("get namespace %s: %w", name, err))
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}
