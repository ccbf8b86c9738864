package inventory

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
)

// FuzzAssemble feeds assemble ConfigMaps whose shard annotations and data
// are arbitrary, as a damaged or hostile cluster could hold: it never
// panics, and what it accepts is a well-formed inventory of the right
// environment that survives another save and load.
func FuzzAssemble(f *testing.F) {
	s := &Store{ShardSize: 200}
	for _, n := range []int{0, 3, 20} {
		cms := shardsOf(f, s, sampleInventory("ci", n))
		var data []byte
		var idx, counts, sums []string
		for _, cm := range cms {
			data = append(data, cm.BinaryData[dataKey]...)
			idx = append(idx, cm.Annotations[annotationShard])
			counts = append(counts, cm.Annotations[annotationShards])
			sums = append(sums, cm.Annotations[annotationDigest])
		}
		f.Add(data, strings.Join(idx, ","), strings.Join(counts, ","), strings.Join(sums, ","), uint8(len(cms)))
	}
	f.Add([]byte{0x1f, 0x8b, 0x08}, "0", "1", "x", uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, idx, counts, sums string, n uint8) {
		if n == 0 || n > 16 {
			return
		}
		split := func(s string) []string { return strings.Split(s, ",") }
		ix, cs, ss := split(idx), split(counts), split(sums)
		at := func(l []string, i int) string {
			if i < len(l) {
				return l[i]
			}
			return ""
		}
		size := len(data)/int(n) + 1
		var cms []corev1.ConfigMap
		for i := 0; i < int(n); i++ {
			lo, hi := min(i*size, len(data)), min((i+1)*size, len(data))
			cm := s.shard("ci", Namespace, 0, 1, at(ss, i), data[lo:hi])
			cm.Annotations[annotationShard] = at(ix, i)
			cm.Annotations[annotationShards] = at(cs, i)
			if i > 0 {
				cm.Name = fmt.Sprintf("%s.%d-%s", ConfigMapName("ci", 0), i, short(at(ss, i)))
			}
			cms = append(cms, *cm)
		}
		inv, err := s.assemble("ci", Namespace, cms)
		if err != nil {
			return
		}
		if inv.Environment != "ci" {
			t.Fatalf("accepted an inventory of environment %q", inv.Environment)
		}
		// What was accepted is saved and read back the same.
		again := shardsOf(t, s, inv)
		got, err := s.assemble("ci", Namespace, again)
		if err != nil {
			t.Fatalf("re-saved inventory does not load: %v", err)
		}
		inv.Sort()
		if inv.Entries == nil {
			inv.Entries = []Entry{}
		}
		if diff := cmp.Diff(inv, got); diff != "" {
			t.Fatalf("re-saved inventory differs:\n%s", diff)
		}
	})
}
