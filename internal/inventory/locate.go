package inventory

import (
	"context"
	"fmt"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"

	"github.com/envctl/envctl/internal/errs"
)

// EnvNamespacePrefix starts the name of an environment's own namespace:
// envctl-env-ENV holds that environment's inventory, Lease, sync record,
// daemon and daemon credentials, and nothing of any other environment.
const EnvNamespacePrefix = "envctl-env-"

// LabelStateOf, with the environment's name as value, marks an
// environment's own namespace as the place of its state. `daemon install`
// sets it once it has moved the state there; until then (and for every
// environment without a daemon) the state stays in Namespace.
const LabelStateOf = "envctl.dev/state-of"

// EnvNamespace is the name of env's own namespace.
func EnvNamespace(env string) string { return EnvNamespacePrefix + env }

// located caches the environments found to keep their state in their own
// namespace: once moved there it never moves back.
var located sync.Map

// Locate returns the namespace that holds env's state: EnvNamespace(env)
// when it exists labelled LabelStateOf=env, else Namespace (the place of
// every environment's state before envctl isolated them, and still of an
// environment without a daemon). A caller that may not read namespaces
// gets Namespace.
func Locate(ctx context.Context, client kubernetes.Interface, env string) (string, error) {
	if ns, ok := located.Load(env); ok {
		return ns.(string), nil
	}
	return Relocate(ctx, client, env)
}

// Relocate is Locate without the cache: what a process that waited for
// the environment's lock asks, since the state may have moved meanwhile.
func Relocate(ctx context.Context, client kubernetes.Interface, env string) (string, error) {
	name := EnvNamespace(env)
	if len(validation.IsDNS1123Label(name)) > 0 {
		return Namespace, nil // too long to exist
	}
	ns, err := client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err) || apierrors.IsForbidden(err):
		return Namespace, nil
	case err != nil:
		return "", errs.Cluster(fmt.Errorf("find where environment %s keeps its state (namespace %s): %w", env, name, err))
	case ns.Labels[LabelStateOf] != env || ns.DeletionTimestamp != nil:
		return Namespace, nil
	}
	located.Store(env, name)
	return name, nil
}
