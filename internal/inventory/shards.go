package inventory

import (
	"errors"
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"

	"github.com/envctl/envctl/internal/errs"
)

// CorruptError reports an inventory that cannot be read back. It names the
// ConfigMap at fault and the command that repairs it. envctl stops rather
// than guess what it applied: a run on a guessed inventory could prune what
// it should keep, or forget what it should prune.
type CorruptError struct {
	Environment          string
	Namespace, ConfigMap string
	Reason               string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("the inventory of environment %s is damaged: ConfigMap %s/%s: %s; envctl stops rather than guess what it applied. "+
		"Repair it with `envctl inventory rebuild %s`, which rebuilds it from the labels of the environment's objects",
		e.Environment, e.Namespace, e.ConfigMap, e.Reason, e.Environment)
}

// errNoHead is assemble's answer when only shards of an interrupted first
// save exist: no save ever completed, so there is no inventory.
var errNoHead = errors.New("no first shard")

// shardName is the name of shard i (i > 0) of a save whose content digest
// is sum. The digest in the name keeps the shards of a new save apart from
// those of the stored one until the first shard, written last, switches
// over to them: a save interrupted at any point leaves the stored
// inventory readable.
func shardName(env string, i int, sum string) string {
	if i == 0 {
		return ConfigMapName(env, 0)
	}
	if len(sum) > 12 {
		sum = sum[:12]
	}
	return ConfigMapName(env, i) + "-" + sum
}

// assemble reads the inventory held by cms, the ConfigMaps labelled with
// env. The first shard (named ConfigMapName(env, 0)) says how many shards
// there are and which digest they share; ConfigMaps with another digest are
// leftovers of an interrupted save and are ignored. With no first shard it
// returns errNoHead.
func (s *Store) assemble(env, ns string, cms []corev1.ConfigMap) (*Inventory, error) {
	corrupt := func(name, format string, args ...any) error {
		return errs.Input(&CorruptError{Environment: env, Namespace: ns, ConfigMap: name, Reason: fmt.Sprintf(format, args...)})
	}
	head := headOf(env, cms)
	if head == nil {
		return nil, errNoHead
	}
	if idx := head.Annotations[annotationShard]; idx != "0" {
		return nil, corrupt(head.Name, "annotation %s is %q, want \"0\" on the first shard", annotationShard, idx)
	}
	n, err := strconv.Atoi(head.Annotations[annotationShards])
	if err != nil || n < 1 {
		return nil, corrupt(head.Name, "annotation %s is %q, not a shard count", annotationShards, head.Annotations[annotationShards])
	}
	sum := head.Annotations[annotationDigest]
	byIndex := map[int]*corev1.ConfigMap{0: head}
	for i := range cms {
		cm := &cms[i]
		if cm == head || cm.Annotations[annotationDigest] != sum {
			continue // a leftover of another save
		}
		idx, err := strconv.Atoi(cm.Annotations[annotationShard])
		if err != nil || idx < 1 {
			return nil, corrupt(cm.Name, "annotation %s is %q, not a shard number", annotationShard, cm.Annotations[annotationShard])
		}
		if prev, dup := byIndex[idx]; dup {
			return nil, corrupt(cm.Name, "shard %d is also held by ConfigMap %s", idx, prev.Name)
		}
		byIndex[idx] = cm
	}
	var blob []byte
	for i := range n {
		cm, ok := byIndex[i]
		if !ok {
			return nil, corrupt(shardName(env, i, sum), "shard %d of %d (digest %s) is missing", i, n, short(sum))
		}
		blob = append(blob, cm.BinaryData[dataKey]...)
	}
	if got := digest(blob); got != sum {
		return nil, corrupt(head.Name, "content digest %s does not match annotation %s=%s", short(got), annotationDigest, short(sum))
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

func short(sum string) string {
	if len(sum) > 12 {
		return sum[:12]
	}
	return sum
}
