package inventory

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/object"
)

func sampleInventory(env string, n int) *Inventory {
	inv := &Inventory{
		Environment: env,
		Revision:    "0123456789abcdef",
		AppliedAt:   time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
		Components:  []string{"platform", "serving"},
	}
	for i := range n {
		inv.Entries = append(inv.Entries, Entry{
			Ref:       object.Ref{Version: "v1", Kind: "ConfigMap", Namespace: fmt.Sprintf("ns-%d", i%10), Name: fmt.Sprintf("cm-%05d", i)},
			Component: inv.Components[i%2],
			// Hashes are incompressible, like the real ones.
			Digest: digest([]byte(fmt.Sprintf("d%d", i))),
			Fields: digest([]byte(fmt.Sprintf("f%d", i))),
		})
	}
	inv.Sort()
	return inv
}

// shardsOf builds the ConfigMaps Save would write for inv.
func shardsOf(t testing.TB, s *Store, inv *Inventory) []corev1.ConfigMap {
	t.Helper()
	blob, err := encode(inv)
	if err != nil {
		t.Fatal(err)
	}
	parts := split(blob, s.ShardSize)
	var cms []corev1.ConfigMap
	for i, p := range parts {
		cms = append(cms, *s.shard(inv.Environment, Namespace, i, len(parts), digest(blob), p))
	}
	return cms
}

func TestRoundTripShards(t *testing.T) {
	tests := []struct {
		name       string
		entries    int
		shardSize  int
		wantShards int
	}{
		{name: "empty inventory is one shard", entries: 0, shardSize: DefaultShardSize, wantShards: 1},
		{name: "small", entries: 3, shardSize: DefaultShardSize, wantShards: 1},
		{name: "20000 entries need several shards", entries: 20000, shardSize: DefaultShardSize, wantShards: 0},
		{name: "tiny shards", entries: 50, shardSize: 512, wantShards: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Store{ShardSize: tt.shardSize}
			inv := sampleInventory("ci", tt.entries)
			cms := shardsOf(t, s, inv)
			if tt.wantShards > 0 && len(cms) != tt.wantShards {
				t.Errorf("got %d shards, want %d", len(cms), tt.wantShards)
			}
			if tt.wantShards == 0 && len(cms) < 2 {
				t.Errorf("got %d shards, want several", len(cms))
			}
			for _, cm := range cms {
				if n := len(cm.BinaryData[dataKey]); n > tt.shardSize {
					t.Errorf("%s holds %d bytes, more than the shard size %d", cm.Name, n, tt.shardSize)
				}
			}
			// The API server returns ConfigMaps in name order; ".10" sorts
			// before ".2", so the order must not matter.
			reversed := make([]corev1.ConfigMap, len(cms))
			for i := range cms {
				reversed[len(cms)-1-i] = cms[i]
			}
			got, err := s.assemble("ci", Namespace, reversed)
			if err != nil {
				t.Fatal(err)
			}
			want := inv
			if want.Entries == nil {
				want.Entries = []Entry{}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}

func TestShardNamesCannotCollideAcrossEnvironments(t *testing.T) {
	seen := map[string]string{}
	for _, env := range []string{"ci", "ci-1", "ci-2", "ci1"} {
		for i := range 4 {
			name := ConfigMapName(env, i)
			if other, dup := seen[name]; dup {
				t.Fatalf("%s is used by %s and by %s shard %d", name, other, env, i)
			}
			seen[name] = fmt.Sprintf("%s shard %d", env, i)
		}
	}
	if got := ConfigMapName("ci", 0); got != "envctl-inventory-ci" {
		t.Errorf("first shard name = %q", got)
	}
}

func TestAssembleCorrupt(t *testing.T) {
	s := &Store{ShardSize: 256}
	good := func() []corev1.ConfigMap { return shardsOf(t, s, sampleInventory("ci", 40)) }
	if len(good()) < 3 {
		t.Fatal("fixture needs at least 3 shards")
	}
	tests := []struct {
		name     string
		mutate   func([]corev1.ConfigMap) []corev1.ConfigMap
		wantCM   string
		wantText string
	}{
		{
			name:     "missing middle shard",
			mutate:   func(c []corev1.ConfigMap) []corev1.ConfigMap { return append(c[:1], c[2:]...) },
			wantCM:   "envctl-inventory-ci.1-",
			wantText: "shard 1 of",
		},
		{
			name: "flipped byte",
			mutate: func(c []corev1.ConfigMap) []corev1.ConfigMap {
				c[1].BinaryData[dataKey][10] ^= 0xff
				return c
			},
			wantCM:   "envctl-inventory-ci",
			wantText: "does not match",
		},
		{
			name: "shard of another save only",
			mutate: func(c []corev1.ConfigMap) []corev1.ConfigMap {
				c[2].Annotations[annotationDigest] = strings.Repeat("0", 64)
				return c
			},
			wantCM:   "envctl-inventory-ci.2-",
			wantText: "shard 2 of",
		},
		{
			name: "bad shard annotation",
			mutate: func(c []corev1.ConfigMap) []corev1.ConfigMap {
				c[1].Annotations[annotationShard] = "one"
				return c
			},
			wantCM:   "envctl-inventory-ci.1-",
			wantText: "not a shard number",
		},
		{
			name: "two shards claim one place",
			mutate: func(c []corev1.ConfigMap) []corev1.ConfigMap {
				c[2].Annotations[annotationShard] = "1"
				return c
			},
			wantCM:   "envctl-inventory-ci.2-",
			wantText: "also held by",
		},
		{
			name: "not gzip",
			mutate: func(c []corev1.ConfigMap) []corev1.ConfigMap {
				blob := []byte("{}")
				return []corev1.ConfigMap{*s.shard("ci", Namespace, 0, 1, digest(blob), blob)}
			},
			wantCM:   "envctl-inventory-ci",
			wantText: "decompress",
		},
		{
			name: "another environment's content",
			mutate: func(c []corev1.ConfigMap) []corev1.ConfigMap {
				other := shardsOf(t, s, sampleInventory("staging", 1))
				other[0].Name = ConfigMapName("ci", 0)
				return other
			},
			wantCM:   "envctl-inventory-ci",
			wantText: `holds environment "staging"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.assemble("ci", Namespace, tt.mutate(good()))
			if err == nil {
				t.Fatal("assemble succeeded on a corrupt inventory")
			}
			var ce *CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a CorruptError", err)
			}
			if !strings.HasPrefix(ce.ConfigMap, tt.wantCM) {
				t.Errorf("error names ConfigMap %q, want %q", ce.ConfigMap, tt.wantCM)
			}
			for _, want := range []string{"envctl-system/" + tt.wantCM, tt.wantText, "envctl inventory rebuild ci"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
			// Bad input the user repairs: exit 2.
			if errs.KindOf(err) != errs.KindInput {
				t.Errorf("error kind = %v, want input", errs.KindOf(err))
			}
		})
	}
}

// A first save cut off before its first shard: no inventory, not a damaged
// one.
func TestAssembleWithoutFirstShardIsNone(t *testing.T) {
	s := &Store{ShardSize: 256}
	cms := shardsOf(t, s, sampleInventory("ci", 40))
	if _, err := s.assemble("ci", Namespace, cms[1:]); !errors.Is(err, errNoHead) {
		t.Errorf("assemble without the first shard: %v, want errNoHead", err)
	}
}

// A save cut off after writing its other shards and before switching the
// first one over: the stored inventory is read, the new shards ignored.
func TestAssembleIgnoresShardsOfAnUnfinishedSave(t *testing.T) {
	s := &Store{ShardSize: 256}
	old := sampleInventory("ci", 40)
	stored := shardsOf(t, s, old)
	next := sampleInventory("ci", 45)
	unfinished := shardsOf(t, s, next)[1:]
	for _, cm := range unfinished {
		for _, o := range stored {
			if o.Name == cm.Name {
				t.Fatalf("shard %s of the new save has the name of a stored one: the save would overwrite it", cm.Name)
			}
		}
	}
	got, err := s.assemble("ci", Namespace, append(stored, unfinished...))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(old, got); diff != "" {
		t.Errorf("assembled (-stored +got):\n%s", diff)
	}
}

func TestAssembleIgnoresLeftoverShards(t *testing.T) {
	s := &Store{ShardSize: 256}
	big := shardsOf(t, s, sampleInventory("ci", 40))
	small := shardsOf(t, &Store{ShardSize: DefaultShardSize}, sampleInventory("ci", 1))
	if len(small) != 1 || len(big) < 3 {
		t.Fatalf("fixture: %d small and %d big shards", len(small), len(big))
	}
	// A save that shrank the inventory and stopped before removing the old
	// shards 1..n.
	got, err := s.assemble("ci", Namespace, append(small, big[1:]...))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Entries) != 1 {
		t.Errorf("got %d entries, want 1", len(got.Entries))
	}
}

func TestSameContentIgnoresAppliedAt(t *testing.T) {
	a := sampleInventory("ci", 5)
	b := sampleInventory("ci", 5)
	b.AppliedAt = b.AppliedAt.Add(time.Hour)
	// Order of entries must not matter either.
	b.Entries[0], b.Entries[4] = b.Entries[4], b.Entries[0]
	if !sameContent(a, b) {
		t.Error("inventories differing only in AppliedAt and entry order are reported different")
	}
	b.Revision = "other"
	if sameContent(a, b) {
		t.Error("a changed revision is not seen")
	}
	c := sampleInventory("ci", 5)
	c.Entries[2].Fields = "drifted"
	if sameContent(a, c) {
		t.Error("a changed entry is not seen")
	}
}

func FuzzDecode(f *testing.F) {
	blob, _ := encode(sampleInventory("ci", 3))
	f.Add(blob)
	f.Add([]byte{0x1f, 0x8b})
	f.Add([]byte("{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		inv, err := decode(data)
		if err != nil {
			return
		}
		// Whatever decodes must encode and decode to the same thing.
		again, err := encode(inv)
		if err != nil {
			t.Fatal(err)
		}
		inv2, err := decode(again)
		if err != nil {
			t.Fatal(err)
		}
		inv.Sort()
		if inv.Entries == nil {
			inv.Entries = []Entry{}
		}
		if diff := cmp.Diff(inv, inv2); diff != "" {
			t.Errorf("re-encoding changed the inventory:\n%s", diff)
		}
	})
}
