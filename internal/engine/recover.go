package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/kube"
	"github.com/envctl/envctl/internal/object"
	"github.com/envctl/envctl/internal/ownership"
)

// helmHookAnnotation marks a Helm hook. Hooks are not in the inventory
// (envctl runs them and, like Helm, leaves some in place), so a rebuild
// leaves them out too.
const helmHookAnnotation = "helm.sh/hook"

// RebuildInventory rebuilds env's inventory from the objects in the cluster
// that carry its ownership labels and envctl's digest annotation (so that
// objects made from a template carrying the labels, such as a StatefulSet's
// volume claims, are not taken for applied ones), leaving out objects a
// controller owns and Helm hooks. It lists every kind the cluster serves
// (metadata only; per namespace among namespaces where a cluster-wide LIST
// is forbidden). The rebuilt entries record no owned-fields hash, so the
// next apply sends every object once (the server finds most unchanged).
//
// It also returns the API groups it could not search (their discovery
// failed); objects there are missing from the result.
func RebuildInventory(ctx context.Context, client *kube.Client, env, repository string, namespaces []string) (*inventory.Inventory, []string, error) {
	sel := labels.SelectorFromSet(labels.Set{
		ownership.LabelManagedBy:   ownership.ManagedByValue,
		ownership.LabelEnvironment: env,
	}).String()
	found, skipped, err := client.ListAllLabelled(ctx, sel, namespaces)
	if err != nil {
		return nil, skipped, errs.Cluster(err)
	}
	inv := &inventory.Inventory{Environment: env, Repository: repository, AppliedAt: time.Now().UTC()}
	seen := map[object.Key]bool{}
	for _, o := range found {
		ann := o.GetAnnotations()
		if _, ok := ann[kube.DigestAnnotation]; !ok {
			continue
		}
		if _, hook := ann[helmHookAnnotation]; hook {
			continue
		}
		if controlled(o.GetOwnerReferences()) {
			continue
		}
		gvk := o.GroupVersionKind()
		e := inventory.Entry{
			Ref: object.Ref{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind, Namespace: o.GetNamespace(), Name: o.GetName()},
			// The digest of a Secret is keyed and of any object is only
			// compared with the live annotation; it is kept for the record.
			Component: o.GetLabels()[ownership.LabelComponent],
			Digest:    ann[kube.DigestAnnotation],
		}
		if seen[e.Key()] {
			continue // served by two groups' versions (rare): once is enough
		}
		seen[e.Key()] = true
		inv.Entries = append(inv.Entries, e)
		if !slices.Contains(inv.Components, e.Component) {
			inv.Components = append(inv.Components, e.Component)
		}
	}
	slices.Sort(inv.Components)
	inv.Sort()
	return inv, skipped, nil
}

func controlled(refs []metav1.OwnerReference) bool {
	for _, r := range refs {
		if r.Controller != nil && *r.Controller {
			return true
		}
	}
	return false
}

// CheckRepository refuses an inventory recorded by another repository than
// repository, unless adopt: two repositories that both name an environment
// alike must not apply over, and prune, each other's objects. An inventory
// that records no repository (written before envctl recorded it), or a run
// that names none, passes. The refusal is a conflict holding a
// *RepositoryError.
func CheckRepository(inv *inventory.Inventory, repository string, adopt bool) error {
	if inv == nil || inv.Repository == "" || repository == "" || inv.Repository == repository || adopt {
		return nil
	}
	return errs.Conflict(&RepositoryError{Environment: inv.Environment, Recorded: inv.Repository, Repository: repository})
}

// RepositoryError is an environment applied from another repository.
type RepositoryError struct {
	Environment string
	// Recorded is the repository the inventory names; Repository the one
	// the run is from.
	Recorded, Repository string
}

func (e *RepositoryError) Error() string {
	return fmt.Sprintf("environment %s on this cluster was applied from repository %q (its inventory %s/%s says so), not from this repository %q: "+
		"two repositories that name an environment alike must not apply over each other's objects. Give this environment another name, "+
		"or rerun with --adopt to take the environment over (what this repository does not declare is then pruned)",
		e.Environment, e.Recorded, inventory.Namespace, inventory.ConfigMapName(e.Environment, 0), e.Repository)
}

// CheckOwner reads the environment's inventory and refuses it when another
// repository applied it (see CheckRepository), before a driver takes the
// environment's lock or writes anything: the loop checks this once at its
// start.
func (e *Engine) CheckOwner(ctx context.Context, req Request) error {
	if e.client == nil {
		return errOffline
	}
	d := req.Declared
	inv, err := inventory.NewStore(e.State()).Load(ctx, d.Env.Name())
	if errors.Is(err, inventory.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return CheckRepository(inv, d.Repository(), req.Policy.Adopt)
}

// Rebuilt is what Rebuild did.
type Rebuilt struct {
	// Inventory is the rebuilt inventory; it has no entries when no object
	// is labelled for the environment, and is then not stored.
	Inventory *inventory.Inventory
	// Replaced says a stored inventory (damaged or not) was replaced.
	Replaced bool
	// Skipped are the API groups that could not be searched.
	Skipped []string
}

// Rebuild replaces the environment's inventory with one rebuilt from the
// labels of its objects (RebuildInventory), the repair of a damaged one;
// when no object is labelled for the environment, its inventory is
// deleted. An inventory of another repository is left alone, unless the
// policy adopts.
func (e *Engine) Rebuild(ctx context.Context, req Request) (*Rebuilt, error) {
	if e.client == nil {
		return nil, errOffline
	}
	d := req.Declared
	store := inventory.NewStore(e.State())
	env := d.Env.Name()
	old, err := store.Load(ctx, env)
	var version string
	switch {
	case err == nil:
		if err := CheckRepository(old, d.Repository(), req.Policy.Adopt); err != nil {
			return nil, err
		}
		version = old.Version
	case !errors.Is(err, inventory.ErrNotFound):
		// Damaged: replaced, but only as it was read here.
		if version, err = store.Version(ctx, env); err != nil {
			return nil, err
		}
	}
	out := &Rebuilt{Replaced: version != ""}
	if out.Inventory, out.Skipped, err = RebuildInventory(ctx, e.client, env, d.Repository(), nil); err != nil {
		return nil, err
	}
	if len(out.Inventory.Entries) == 0 {
		return out, store.DeleteVersion(ctx, env, version)
	}
	out.Inventory.Version = version
	_, err = store.Save(ctx, out.Inventory)
	return out, err
}
