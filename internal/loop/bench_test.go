package loop

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/envctl/envctl/internal/object"
)

// driftEvents is how many drift events one op of BenchmarkDriftCorrection
// makes, enough for a p99.
const driftEvents = 50

// BenchmarkDriftCorrection measures drift correction latency: from the
// answer to the request that made the drift (when its watch event goes
// out) to the moment a separate watch sees the object restored. Each op
// makes driftEvents drifts, alternating deletes and kubectl edits over 25
// ConfigMaps, and reports the p50 and p99 of the latencies. Each object is
// drifted again within seconds, which the loop would take for a fight and
// back off from; the backoff's quiet window is shortened to nothing, so
// that every event measures the first, immediate correction.
func BenchmarkDriftCorrection(b *testing.B) {
	f := newFixture(b)
	const objects = 25
	var docs []string
	for i := range objects {
		docs = append(docs, configMap(fmt.Sprintf("cm-%d", i), "declared"))
	}
	f.overlay(docs...)
	l := f.start(nil)
	settle(f)
	l.mu.Lock()
	l.backoff.Window = 0
	l.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cms := f.te.Clientset().CoreV1().ConfigMaps(f.ns)
	w, err := cms.Watch(ctx, metav1.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	restored := make(chan string, 1024)
	go func() {
		for ev := range w.ResultChan() {
			if cm, ok := ev.Object.(*corev1.ConfigMap); ok && ev.Type != watch.Deleted && cm.Data["value"] == "declared" && cm.Data["extra"] == "" {
				restored <- cm.Name
			}
		}
	}()

	var all []time.Duration
	b.ResetTimer()
	for range b.N {
		lat := make([]time.Duration, 0, driftEvents)
		for i := range driftEvents {
			name := fmt.Sprintf("cm-%d", i%objects)
			drain(restored)
			var err error
			if i%2 == 0 {
				err = cms.Delete(ctx, name, metav1.DeleteOptions{})
			} else {
				_, err = cms.Patch(ctx, name, types.MergePatchType, []byte(`{"data":{"value":"edited","extra":"x"}}`), metav1.PatchOptions{FieldManager: "kubectl-edit"})
			}
			if err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			if err := waitRestored(restored, name, 10*time.Second); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(start))
		}
		all = append(all, lat...)
	}
	b.StopTimer()
	b.ReportMetric(percentile(all, 50).Seconds()*1000, "p50-ms")
	b.ReportMetric(percentile(all, 99).Seconds()*1000, "p99-ms")
	b.ReportMetric(float64(len(all)), "events")
}

func drain(ch chan string) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

func waitRestored(ch chan string, name string, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case n := <-ch:
			if n == name {
				return nil
			}
		case <-t.C:
			return fmt.Errorf("%s not restored within %s", name, timeout)
		}
	}
}

func percentile(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[max(i-1, 0)]
}

// BenchmarkNoOpResync1000 measures a resync of 1,000 converged objects:
// every object checked against its watch cache, with the per-version
// memo of earlier checks cleared so that each op does the full check. It
// reports the requests and writes the resync made, counted on the
// transport of the loop's clients (the engine's and the watches' metadata
// client are both built on the fixture's counting configuration), and
// fails when there is any: the check is served from the watch caches.
func BenchmarkNoOpResync1000(b *testing.B) {
	f := newFixture(b)
	var docs []string
	for i := range 1000 {
		docs = append(docs, configMap(fmt.Sprintf("cm-%04d", i), "v"))
	}
	f.overlay(docs...)
	f.readyTimeout = 5 * time.Minute // 1,000 creates on a busy machine
	l := f.start(nil)
	settle(f)
	before := f.counter.Snapshot()
	if before.Writes < 1000 {
		// The counter must see the loop's traffic for its zero to mean anything.
		b.Fatalf("the counter saw %d writes for the first apply of 1,000 objects: it does not count the loop's requests", before.Writes)
	}
	b.ResetTimer()
	for range b.N {
		l.mu.Lock()
		l.verified = map[object.Key]string{}
		l.mu.Unlock()
		if n := l.verifyAll(); n != 0 {
			b.Fatalf("%d objects drifted in a converged environment", n)
		}
	}
	b.StopTimer()
	d := f.counter.Snapshot().Sub(before)
	b.ReportMetric(float64(d.Requests)/float64(b.N), "requests/op")
	b.ReportMetric(float64(d.Writes)/float64(b.N), "writes/op")
	if d.Requests != 0 || d.Writes != 0 {
		b.Errorf("a no-op resync made %d requests and %d writes over %d ops, want none: %v", d.Requests, d.Writes, b.N, d.WritePaths)
	}
	if l.queue.len() != 0 {
		b.Errorf("%d objects queued after a no-op resync", l.queue.len())
	}
}
