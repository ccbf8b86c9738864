package inventory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/ownership"
	"github.com/envctl/envctl/internal/testhook"
)

// Namespace is where envctl keeps its inventories.
const Namespace = "envctl-system"

// LabelInventory marks an inventory ConfigMap with its environment. The
// inventory deliberately does not carry ownership.LabelEnvironment: it is not
// declared state, so listing or pruning an environment's objects must never
// find it.
const LabelInventory = "envctl.dev/inventory"

// Annotations on each inventory ConfigMap. Every shard carries the digest of
// the whole compressed inventory, so a Load can tell a complete set from
// shards of two different saves.
const (
	annotationShard  = "envctl.dev/inventory-shard"
	annotationShards = "envctl.dev/inventory-shards"
	annotationDigest = "envctl.dev/inventory-digest"
	dataKey          = "inventory.json.gz"
)

// ErrNotFound is returned by Load for an environment that has no inventory,
// that is, one envctl never applied (or took down).
var ErrNotFound = errors.New("no inventory")

// Store reads and writes inventories as ConfigMaps.
type Store struct {
	Client kubernetes.Interface
	// Namespace defaults to Namespace.
	Namespace string
	// ShardSize defaults to DefaultShardSize; tests lower it.
	ShardSize int
}

// NewStore returns a Store using client with the defaults.
func NewStore(client kubernetes.Interface) *Store {
	return &Store{Client: client}
}

// namespace is where the store keeps what is not one environment's: the
// fingerprint key, and the inventories of environments not yet moved to
// their own namespace.
func (s *Store) namespace() string {
	if s.Namespace == "" {
		return Namespace
	}
	return s.Namespace
}

// where is the namespace of env's inventory: Namespace when set, else
// where Locate finds env's state.
func (s *Store) where(ctx context.Context, env string) (string, error) {
	if s.Namespace != "" {
		return s.Namespace, nil
	}
	return Locate(ctx, s.Client, env)
}

// ConfigMapName is the name of shard i of env's inventory. Further shards
// are suffixed ".1", ".2" (and, as stored, the digest of their save; see
// shardName): environment names are DNS labels and cannot hold a dot, so a
// shard of "ci" can never be mistaken for environment "ci-1".
func ConfigMapName(env string, shard int) string {
	name := "envctl-inventory-" + env
	if shard > 0 {
		name += "." + strconv.Itoa(shard)
	}
	return name
}

// Load returns env's inventory. It makes one LIST request. An environment
// without an inventory gives an error wrapping ErrNotFound; so does one whose
// only ConfigMaps are shards of a first save that was interrupted before it
// completed. A damaged inventory gives a *CorruptError, classified as bad
// input (exit 2), that says how to repair it.
func (s *Store) Load(ctx context.Context, env string) (*Inventory, error) {
	ns, cms, err := s.list(ctx, env)
	if err != nil {
		return nil, err
	}
	if len(cms) == 0 {
		return nil, fmt.Errorf("environment %q: %w (no ConfigMap %s/%s)", env, ErrNotFound, ns, ConfigMapName(env, 0))
	}
	inv, err := s.assemble(env, ns, cms)
	if errors.Is(err, errNoHead) {
		return nil, fmt.Errorf("environment %q: %w (only %d shard(s) of a save that never completed, no ConfigMap %s/%s)",
			env, ErrNotFound, len(cms), ns, ConfigMapName(env, 0))
	}
	if inv != nil {
		inv.Version = headOf(env, cms).ResourceVersion
	}
	return inv, err
}

// Version returns the stored version of env's inventory (see
// Inventory.Version), damaged or not; "" when none is stored. A writer
// that replaces an inventory it could not load (inventory rebuild) saves
// over this version.
func (s *Store) Version(ctx context.Context, env string) (string, error) {
	_, cms, err := s.list(ctx, env)
	if err != nil {
		return "", err
	}
	if head := headOf(env, cms); head != nil {
		return head.ResourceVersion, nil
	}
	return "", nil
}

// headOf returns the first shard among cms, nil when there is none.
func headOf(env string, cms []corev1.ConfigMap) *corev1.ConfigMap {
	for i := range cms {
		if cms[i].Name == ConfigMapName(env, 0) {
			return &cms[i]
		}
	}
	return nil
}

// StaleError is a save refused because the stored inventory is not the
// version the writer last read or wrote: another writer (one that took the
// environment's lock since) stored a newer one, which is kept.
type StaleError struct {
	Environment string
	// Expected is the version the writer had; "" for none stored.
	Expected string
	// Found is the version stored; "" for none.
	Found string
}

func (e *StaleError) Error() string {
	return fmt.Sprintf("the inventory of environment %s changed since this envctl read it (stored version %s, read %s): "+
		"another envctl writes the environment now; this one's save is refused so that it cannot overwrite the newer inventory",
		e.Environment, orNone(e.Found), orNone(e.Expected))
}

func orNone(v string) string {
	if v == "" {
		return "none"
	}
	return v
}

// Save stores inv unless the stored inventory already holds the same
// content (AppliedAt aside), and reports whether it wrote. An unchanged
// Save costs one LIST and no write.
//
// Save is a compare-and-swap: it writes only over inv.Version, the version
// inv was loaded from or last saved as ("" for none stored), and sets
// inv.Version to what it wrote. Any other stored version is a *StaleError,
// classified as a conflict, and nothing is written: a writer that lost the
// environment's lock can never overwrite what the new holder stored.
//
// A save interrupted at any point (the process killed, the connection
// lost) leaves the stored inventory readable, old or new: the shards after
// the first are written under names of their own (they carry the new
// content's digest), then the first shard is switched over to them in one
// update, and only then are the old shards removed.
func (s *Store) Save(ctx context.Context, inv *Inventory) (bool, error) {
	env := inv.Environment
	if env == "" {
		return false, fmt.Errorf("save inventory: no environment name")
	}
	ns, existing, err := s.list(ctx, env)
	if err != nil {
		return false, err
	}
	head := headOf(env, existing)
	if found := versionOf(head); found != inv.Version {
		return false, errs.Conflict(&StaleError{Environment: env, Expected: inv.Version, Found: found})
	}
	if len(existing) > 0 {
		// A damaged stored inventory is replaced (by a writer that read its
		// version: inventory rebuild).
		if old, err := s.assemble(env, ns, existing); err == nil && sameContent(old, inv) {
			return false, nil
		}
	} else if err := EnsureNamespace(ctx, s.Client, ns); err != nil {
		return false, err
	}

	blob, err := encode(inv)
	if err != nil {
		return false, err
	}
	size := s.ShardSize
	if size == 0 {
		size = testhook.ShardSize()
	}
	shards := split(blob, size)
	sum := digest(blob)
	byName := map[string]*corev1.ConfigMap{}
	for i := range existing {
		byName[existing[i].Name] = &existing[i]
	}
	// Shard 0 is written last: Load trusts its shard count and digest.
	for i := len(shards) - 1; i >= 0; i-- {
		if i == 0 {
			testhook.Reached(ctx, testhook.InventorySave)
		}
		cm := s.shard(env, ns, i, len(shards), sum, shards[i])
		written, err := s.write(ctx, cm, byName[cm.Name])
		if err != nil {
			return i > 0, err
		}
		if i == 0 {
			inv.Version = written.ResourceVersion
		}
		delete(byName, cm.Name)
	}
	for name := range byName {
		err := s.Client.CoreV1().ConfigMaps(ns).Delete(ctx, name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return true, errs.Cluster(fmt.Errorf("delete stale inventory ConfigMap %s/%s: %w", ns, name, err))
		}
	}
	return true, nil
}

// Delete removes env's inventory, and envctl's namespace once no
// environment's inventory remains in it, so that `envctl down` leaves
// nothing behind. Deleting an inventory that does not exist is not an error.
func (s *Store) Delete(ctx context.Context, env string) error {
	return s.DeleteVersion(ctx, env, "")
}

// DeleteVersion is Delete of the stored version version (Inventory.Version)
// only: when another is stored, it is a *StaleError (a conflict) and nothing
// is deleted. An empty version deletes whatever is stored.
func (s *Store) DeleteVersion(ctx context.Context, env, version string) error {
	ns, cms, err := s.list(ctx, env)
	if err != nil {
		return err
	}
	head := headOf(env, cms)
	if version != "" && versionOf(head) != version {
		return errs.Conflict(&StaleError{Environment: env, Expected: version, Found: versionOf(head)})
	}
	// The first shard goes first, on the version checked: without it, what
	// is left reads as no inventory.
	slices.SortStableFunc(cms, func(a, b corev1.ConfigMap) int {
		return cmpBool(a.Name != ConfigMapName(env, 0), b.Name != ConfigMapName(env, 0))
	})
	for _, cm := range cms {
		opts := metav1.DeleteOptions{}
		if version != "" && cm.Name == ConfigMapName(env, 0) {
			opts.Preconditions = &metav1.Preconditions{ResourceVersion: &version}
		}
		err := s.Client.CoreV1().ConfigMaps(ns).Delete(ctx, cm.Name, opts)
		if apierrors.IsConflict(err) {
			return errs.Conflict(&StaleError{Environment: env, Expected: version, Found: "a newer one"})
		}
		if err != nil && !apierrors.IsNotFound(err) {
			return errs.Cluster(fmt.Errorf("delete inventory ConfigMap %s/%s: %w", ns, cm.Name, err))
		}
	}
	if ns != s.namespace() {
		// An environment's own namespace holds its daemon too: `daemon
		// install` made it, and only the operator removes it.
		return nil
	}
	others, err := s.Environments(ctx)
	if err != nil {
		return err
	}
	if len(others) > 0 {
		return nil
	}
	sys, err := s.Client.CoreV1().Namespaces().Get(ctx, s.namespace(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return errs.Cluster(fmt.Errorf("get namespace %s: %w", s.namespace(), err))
	}
	if !ownership.ManagedByEnvctl(sys.Labels) || sys.DeletionTimestamp != nil {
		// Someone else made the namespace (or it is already going): not ours to remove.
		return nil
	}
	err = s.Client.CoreV1().Namespaces().Delete(ctx, sys.Name, metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{UID: &sys.UID},
	})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	if err != nil {
		return errs.Cluster(fmt.Errorf("delete namespace %s: %w", sys.Name, err))
	}
	// Wait until it is gone: an `envctl up` right after `envctl down` would
	// otherwise find it terminating and be unable to save its inventory.
	return s.waitNamespaceGone(ctx)
}

// waitNamespaceGone polls until the inventory namespace no longer exists.
func (s *Store) waitNamespaceGone(ctx context.Context) error {
	return waitNamespaceGone(ctx, s.Client, s.namespace())
}

// Environments lists the environments that have an inventory, sorted.
func (s *Store) Environments(ctx context.Context) ([]string, error) {
	list, err := s.Client.CoreV1().ConfigMaps(s.namespace()).List(ctx, metav1.ListOptions{LabelSelector: LabelInventory})
	if err != nil {
		return nil, errs.Cluster(fmt.Errorf("list inventories in namespace %s: %w", s.namespace(), err))
	}
	var envs []string
	for _, cm := range list.Items {
		if env := cm.Labels[LabelInventory]; env != "" && !slices.Contains(envs, env) {
			envs = append(envs, env)
		}
	}
	slices.Sort(envs)
	return envs, nil
}

// list returns the namespace of env's inventory and its ConfigMaps there.
func (s *Store) list(ctx context.Context, env string) (string, []corev1.ConfigMap, error) {
	ns, err := s.where(ctx, env)
	if err != nil {
		return "", nil, err
	}
	list, err := s.Client.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{
		LabelSelector: LabelInventory + "=" + env,
	})
	if err != nil {
		return "", nil, errs.Cluster(fmt.Errorf("list inventory of environment %q in namespace %s: %w", env, ns, err))
	}
	return ns, list.Items, nil
}

func (s *Store) ensureNamespace(ctx context.Context) error {
	return EnsureNamespace(ctx, s.Client, s.namespace())
}

func (s *Store) shard(env, ns string, i, n int, sum string, data []byte) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name:      shardName(env, i, sum),
			Namespace: ns,
			Labels: map[string]string{
				ownership.LabelManagedBy: ownership.ManagedByValue,
				LabelInventory:           env,
			},
			Annotations: map[string]string{
				annotationShard:  strconv.Itoa(i),
				annotationShards: strconv.Itoa(n),
				annotationDigest: sum,
			},
		},
		BinaryData: map[string][]byte{dataKey: data},
	}
}

// write creates cm, or updates old to it, and returns what was stored; the
// update carries old's resourceVersion (for the first shard, the version
// Save was given), so that a save over another version conflicts instead of
// overwriting it.
func (s *Store) write(ctx context.Context, cm, old *corev1.ConfigMap) (*corev1.ConfigMap, error) {
	cms := s.Client.CoreV1().ConfigMaps(cm.Namespace)
	var (
		out *corev1.ConfigMap
		err error
	)
	if old == nil {
		out, err = cms.Create(ctx, cm, metav1.CreateOptions{})
	} else {
		cm.ResourceVersion = old.ResourceVersion
		out, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
	}
	switch {
	case err == nil:
		return out, nil
	case apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err):
		return nil, errs.Conflict(fmt.Errorf("save inventory ConfigMap %s/%s: another envctl wrote it at the same time; run again: %w", cm.Namespace, cm.Name, err))
	default:
		return nil, errs.Cluster(fmt.Errorf("save inventory ConfigMap %s/%s: %w", cm.Namespace, cm.Name, err))
	}
}

// cmpBool orders false before true.
func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

// versionOf is the resourceVersion of cm; "" for none.
func versionOf(cm *corev1.ConfigMap) string {
	if cm == nil {
		return ""
	}
	return cm.ResourceVersion
}
