package inventory_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/testenv"
)

// failingWrites fails every write to the ConfigMap named name, as a process
// killed or a connection lost just before that write would.
type failingWrites struct {
	next http.RoundTripper
	name string
	hits atomic.Int32
}

func (f *failingWrites) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodGet && strings.HasSuffix(req.URL.Path, "/configmaps/"+f.name) {
		f.hits.Add(1)
		return nil, errors.New("injected: the connection was lost")
	}
	if req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/configmaps") && req.Body != nil {
		// A create names the object in its body, not its path.
		var data []byte
		if body, err := req.GetBody(); err == nil {
			data, _ = io.ReadAll(body)
		}
		if strings.Contains(string(data), `"name":"`+f.name+`"`) {
			f.hits.Add(1)
			return nil, errors.New("injected: the connection was lost")
		}
	}
	return f.next.RoundTrip(req)
}

// A save cut off after writing every shard but the first (which switches
// the stored inventory over) leaves the stored inventory readable and
// unchanged; the next save completes and removes what the cut one left.
func TestInterruptedSaveKeepsTheStoredInventory(t *testing.T) {
	te := testenv.Get(t)
	ns := te.Namespace(t)
	good := &inventory.Store{Client: te.Clientset(), Namespace: ns, ShardSize: 2048}
	old := makeInventory("cut", 300)
	if _, err := good.Save(t.Context(), old); err != nil {
		t.Fatal(err)
	}
	if n := len(shardNames(t, te.Clientset(), ns, "cut")); n < 3 {
		t.Fatalf("fixture: %d shards, want several", n)
	}

	cfg := te.RESTConfig()
	fw := &failingWrites{name: inventory.ConfigMapName("cut", 0)}
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { fw.next = rt; return fw }
	cut := &inventory.Store{Client: kubernetes.NewForConfigOrDie(cfg), Namespace: ns, ShardSize: 2048}
	next := makeInventory("cut", 320)
	next.Revision = "rev-2"
	next.Version = old.Version
	if _, err := cut.Save(t.Context(), next); err == nil || fw.hits.Load() == 0 {
		t.Fatalf("the cut save: %v (%d writes of the first shard refused); want it to fail there", err, fw.hits.Load())
	}

	got, err := good.Load(t.Context(), "cut")
	if err != nil {
		t.Fatalf("Load after a cut save: %v", err)
	}
	if diff := cmp.Diff(old, got); diff != "" {
		t.Errorf("the stored inventory changed (-before +after):\n%s", diff)
	}

	if _, err := good.Save(t.Context(), next); err != nil {
		t.Fatal(err)
	}
	got, err = good.Load(t.Context(), "cut")
	if err != nil || got.Revision != "rev-2" || len(got.Entries) != 320 {
		t.Fatalf("Load after the next save: %v entries, revision %q, %v", len(got.Entries), got.Revision, err)
	}
	// What the cut save left is gone: every shard is of the last save.
	list, err := te.Clientset().CoreV1().ConfigMaps(ns).List(t.Context(), metav1.ListOptions{LabelSelector: inventory.LabelInventory + "=cut"})
	if err != nil {
		t.Fatal(err)
	}
	digests := map[string]bool{}
	for _, cm := range list.Items {
		digests[cm.Annotations["envctl.dev/inventory-digest"]] = true
	}
	if len(digests) != 1 {
		t.Errorf("shards of %d saves are left, want those of the last one only", len(digests))
	}
}

// An inventory of 10,000 objects is saved in several shards and loaded back
// equal. Compressed, 10,000 entries fit one default shard; the test stores
// them in shards of 128 KiB, so that the sharded path is the one used. How
// long that takes is BenchmarkTenThousandObjectInventory's to measure.
func TestTenThousandObjectInventory(t *testing.T) {
	s, cs, _ := store(t)
	s.ShardSize = 128 << 10
	inv := makeInventory("tenk", 10000)
	start := time.Now()
	if _, err := s.Save(t.Context(), inv); err != nil {
		t.Fatal(err)
	}
	saveTook := time.Since(start)
	if n := len(shardNames(t, cs, s.Namespace, "tenk")); n < 2 {
		t.Errorf("10,000 entries in %d ConfigMap(s), want several", n)
	}
	start = time.Now()
	got, err := s.Load(t.Context(), "tenk")
	loadTook := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(inv, got); diff != "" {
		t.Errorf("loaded inventory differs (-saved +loaded):\n%s", diff)
	}
	t.Logf("10,000 entries in %d shards: save %v, load %v", len(shardNames(t, cs, s.Namespace, "tenk")), saveTook, loadTook)
}

// BenchmarkTenThousandObjectInventory times a save (every shard written:
// each iteration records another revision) and a load of 10,000 entries
// in shards of 128 KiB. Target: each under 1 s.
func BenchmarkTenThousandObjectInventory(b *testing.B) {
	s, _, _ := store(b)
	s.ShardSize = 128 << 10
	inv := makeInventory("tenk", 10000)
	if _, err := s.Save(b.Context(), inv); err != nil {
		b.Fatal(err)
	}
	b.Run("save", func(b *testing.B) {
		i := 0
		for b.Loop() {
			i++
			inv.Revision = fmt.Sprintf("rev-%d", i)
			if _, err := s.Save(b.Context(), inv); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("load", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Load(b.Context(), "tenk"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
