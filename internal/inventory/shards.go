package inventory

import (
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"

	"github.com/envctl/envctl/internal/errs"
)

// CorruptError reports an inventory that cannot be read back. It names the
// ConfigMap at fault and says how to recover.
type CorruptError struct {
	Namespace, ConfigMap string
	Reason               string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("inventory ConfigMap %s/%s is corrupt: %s (delete the environment's inventory ConfigMaps to start afresh; envctl then cannot prune what it applied before)",
		e.Namespace, e.ConfigMap, e.Reason)
}

// assemble reads the inventory held by cms, the ConfigMaps labelled with
// env. Shard 0 says how many shards there are and which digest they share;
// ConfigMaps beyond that count are leftovers of an interrupted save and are
// ignored.
func (s *Store) assemble(env string, cms []corev1.ConfigMap) (*Inventory, error) {
	corrupt := func(name, format string, args ...any) error {
		return errs.Cluster(&CorruptError{Namespace: s.namespace(), ConfigMap: name, Reason: fmt.Sprintf(format, args...)})
	}
	byIndex := map[int]*corev1.ConfigMap{}
	for i := range cms {
		cm := &cms[i]
		idx, err := strconv.Atoi(cm.Annotations[annotationShard])
		if err != nil || idx < 0 {
			return nil, corrupt(cm.Name, "annotation %s is %q, not a shard number", annotationShard, cm.Annotations[annotationShard])
		}
		if prev, dup := byIndex[idx]; dup {
			return nil, corrupt(cm.Name, "shard %d is also held by ConfigMap %s", idx, prev.Name)
		}
		byIndex[idx] = cm
	}
	head, ok := byIndex[0]
	if !ok {
		return nil, corrupt(ConfigMapName(env, 0), "the first shard is missing (found %d other shards)", len(cms))
	}
	n, err := strconv.Atoi(head.Annotations[annotationShards])
	if err != nil || n < 1 {
		return nil, corrupt(head.Name, "annotation %s is %q, not a shard count", annotationShards, head.Annotations[annotationShards])
	}
	sum := head.Annotations[annotationDigest]
	var blob []byte
	for i := range n {
		cm, ok := byIndex[i]
		if !ok {
			return nil, corrupt(ConfigMapName(env, i), "shard %d of %d is missing", i, n)
		}
		if cm.Annotations[annotationDigest] != sum {
			return nil, corrupt(cm.Name, "shard %d belongs to a different save than shard 0 (a save was interrupted, or is running now)", i)
		}
		blob = append(blob, cm.BinaryData[dataKey]...)
	}
	if got := digest(blob); got != sum {
		return nil, corrupt(head.Name, "content digest %s does not match annotation %s=%s", got, annotationDigest, sum)
	}
	inv, err := decode(blob)
	if err != nil {
		return nil, corrupt(head.Name, "%v", err)
	}
	if inv.Environment != env {
		return nil, corrupt(head.Name, "it holds environment %q, not %q", inv.Environment, env)
	}
	return inv, nil
}
