package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/envctl/envctl/internal/daemon/manifests"
	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/lease"
	"github.com/envctl/envctl/internal/ownership"
	"github.com/envctl/envctl/internal/syncstate"
)

// migrateWait bounds the wait for the environment's lock in the shared
// namespace, held by a command or a daemon of an earlier envctl.
const migrateWait = 2 * time.Minute

// prepareNamespaces makes the environment's own namespace, with its Pod
// Security labels, moves the environment's state there from the shared
// namespace (where an earlier envctl, and every command of an environment
// without a daemon, keeps it), makes each namespace the environment
// renders into that is missing (the daemon's RoleBindings go in them), and
// makes the cluster's fingerprint key, which the daemon may read but not
// create.
func prepareNamespaces(ctx context.Context, client kubernetes.Interface, env string, targets []string) error {
	own := manifests.Namespace(env)
	labels := manifests.NamespaceLabels(env)
	// The mark that the state lives there comes last, once it does.
	early := maps.Clone(labels)
	delete(early, inventory.LabelStateOf)
	if err := ensureLabelled(ctx, client, own, early); err != nil {
		return err
	}
	where, err := inventory.Relocate(ctx, client, env)
	if err != nil {
		return err
	}
	if where != own {
		if err := moveState(ctx, client, env, labels); err != nil {
			return err
		}
	}
	for _, ns := range targets {
		if err := ensureLabelled(ctx, client, ns, nil); err != nil {
			return err
		}
	}
	_, err = inventory.NewStore(client).SecretKey(ctx, true)
	return err
}

// ensureLabelled creates namespace name with labels, or adds the labels to
// the namespace that exists.
func ensureLabelled(ctx context.Context, client kubernetes.Interface, name string, labels map[string]string) error {
	namespaces := client.CoreV1().Namespaces()
	ns, err := namespaces.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		ns = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
		_, err = namespaces.Create(ctx, ns, metav1.CreateOptions{})
		if err == nil {
			return nil
		}
		if apierrors.IsAlreadyExists(err) {
			ns, err = namespaces.Get(ctx, name, metav1.GetOptions{})
		}
	}
	if err != nil {
		return errs.Cluster(fmt.Errorf("make namespace %s: %w", name, err))
	}
	missing := map[string]string{}
	for k, v := range labels {
		if ns.Labels[k] != v {
			missing[k] = v
		}
	}
	if len(missing) == 0 {
		return nil
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": missing}})
	if err != nil {
		return err
	}
	if _, err := namespaces.Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return errs.Cluster(fmt.Errorf("label namespace %s: %w", name, err))
	}
	return nil
}

// moveState moves env's inventory and sync record from the shared
// namespace to env's own, under env's lock there, and then marks the own
// namespace with labels, which switches every envctl to it: a command
// that waited for the lock meanwhile finds the state moved and takes the
// lock again in the new place (lease.Acquire). A daemon of an earlier
// envctl, which would keep the lock for ever, is stopped first.
func moveState(ctx context.Context, client kubernetes.Interface, env string, labels map[string]string) error {
	from, to := inventory.Namespace, manifests.Namespace(env)
	if err := stopLegacyDaemon(ctx, client, env); err != nil {
		return err
	}
	held, err := lease.Acquire(ctx, client, env, lease.Options{
		Holder: lease.Identity("daemon install"), Wait: migrateWait, Namespace: from,
	})
	if err != nil {
		return fmt.Errorf("move the state of environment %s to namespace %s: %w", env, to, err)
	}
	defer func() { _ = held.Release(context.WithoutCancel(ctx)) }()
	cms := client.CoreV1().ConfigMaps(from)
	list, err := cms.List(ctx, metav1.ListOptions{LabelSelector: inventory.LabelInventory + "=" + env})
	if err != nil {
		return errs.Cluster(fmt.Errorf("list the inventory of environment %s in %s: %w", env, from, err))
	}
	moving := list.Items
	if rec, err := cms.Get(ctx, syncstate.ConfigMapName(env), metav1.GetOptions{}); err == nil {
		moving = append(moving, *rec)
	} else if !apierrors.IsNotFound(err) {
		return errs.Cluster(fmt.Errorf("read the sync record of environment %s: %w", env, err))
	}
	for _, cm := range moving {
		if err := copyConfigMap(ctx, client, cm, to); err != nil {
			return err
		}
	}
	if err := ensureLabelled(ctx, client, to, labels); err != nil {
		return err
	}
	for _, cm := range moving {
		if err := cms.Delete(ctx, cm.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return errs.Cluster(fmt.Errorf("delete %s/%s, moved to %s: %w", from, cm.Name, to, err))
		}
	}
	return nil
}

// copyConfigMap writes cm's labels, annotations and data into namespace
// to, over what an interrupted move left there.
func copyConfigMap(ctx context.Context, client kubernetes.Interface, cm corev1.ConfigMap, to string) error {
	cms := client.CoreV1().ConfigMaps(to)
	out := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: cm.Name, Namespace: to, Labels: cm.Labels, Annotations: cm.Annotations},
		Data:       cm.Data, BinaryData: cm.BinaryData,
	}
	_, err := cms.Create(ctx, out, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		var old *corev1.ConfigMap
		if old, err = cms.Get(ctx, cm.Name, metav1.GetOptions{}); err == nil {
			out.ResourceVersion = old.ResourceVersion
			_, err = cms.Update(ctx, out, metav1.UpdateOptions{})
		}
	}
	if err != nil {
		return errs.Cluster(fmt.Errorf("copy %s/%s to namespace %s: %w", cm.Namespace, cm.Name, to, err))
	}
	return nil
}

// stopLegacyDaemon deletes the Deployment an earlier envctl installed for
// env in the shared namespace: its leader would hold the lock for ever.
// Its pods release the lock as they stop; the install's prune removes the
// rest of that installation.
func stopLegacyDaemon(ctx context.Context, client kubernetes.Interface, env string) error {
	deployments := client.AppsV1().Deployments(inventory.Namespace)
	d, err := deployments.Get(ctx, manifests.Name(env), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return errs.Cluster(fmt.Errorf("read the daemon of environment %s in %s: %w", env, inventory.Namespace, err))
	}
	if !ownership.ManagedByEnvctl(d.Labels) {
		return nil
	}
	err = deployments.Delete(ctx, d.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &d.UID}})
	if err != nil && !apierrors.IsNotFound(err) {
		return errs.Cluster(fmt.Errorf("stop the daemon of environment %s in %s: %w", env, inventory.Namespace, err))
	}
	return nil
}
