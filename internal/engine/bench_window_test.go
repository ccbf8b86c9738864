package engine

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/envctl/envctl/internal/kube"
)

// windowProfile, when set, writes a CPU profile of every timed window of the
// benchmarks to PREFIX-BENCHMARK-N.pprof, so that a profile shows the apply
// and none of the set-up and clean-up around it (`go tool pprof` merges the
// files given together).
var windowProfile = flag.String("window.cpuprofile", "", "write a CPU profile of each timed benchmark window to `prefix`-<benchmark>-<n>.pprof")

// window measures the timed windows of a benchmark: wall time and the CPU
// time of the whole process, user and system. The embedded control plane
// runs in the test process, so the CPU time is the client's and the API
// server's (etcd, controllers, GC) together; divided by the wall time it
// says how many of the machine's cores the path kept busy, which is what
// tells a path that waits apart from one that is CPU-bound.
//
// With a client, a window also counts the writes the API server handled
// (its apiserver_request_total counter): the benchmark's own and those the
// control plane made in reaction (ReplicaSets, status updates, Endpoints,
// EndpointSlices, ClusterIP allocations), which share the same cores.
type window struct {
	b      *testing.B
	client *kube.Client
	n      int
	wall   time.Duration
	cpu    time.Duration
	writes float64

	began       time.Time
	cpuBegan    time.Duration
	writesBegan float64
	prof        *os.File
}

// newWindow returns a window of b; client, when not nil, reads the API
// server's request counter outside the windows.
func newWindow(b *testing.B, client *kube.Client) *window { return &window{b: b, client: client} }

// start opens a window; the caller starts the benchmark timer too.
func (w *window) start() {
	w.b.Helper()
	if *windowProfile != "" {
		name := strings.NewReplacer("/", "_", " ", "_").Replace(w.b.Name())
		f, err := os.Create(fmt.Sprintf("%s-%s-%d.pprof", *windowProfile, name, w.n))
		if err != nil {
			w.b.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			w.b.Fatal(err)
		}
		w.prof = f
	}
	if w.client != nil {
		w.writesBegan = serverWrites(w.b, w.client)
	}
	w.cpuBegan = processCPU(w.b)
	w.began = time.Now()
}

// stop closes the window opened by start.
func (w *window) stop() {
	w.b.Helper()
	w.wall += time.Since(w.began)
	w.cpu += processCPU(w.b) - w.cpuBegan
	if w.client != nil {
		w.writes += serverWrites(w.b, w.client) - w.writesBegan
	}
	w.n++
	if w.prof != nil {
		pprof.StopCPUProfile()
		if err := w.prof.Close(); err != nil {
			w.b.Fatal(err)
		}
		w.prof = nil
	}
}

// report adds cpu-s/op (CPU seconds of the process per window), cores
// (CPU time over wall time: 2 would be both cores of the machine busy) and,
// with a client, server-writes/op (every write the API server handled).
func (w *window) report() {
	if w.n == 0 || w.wall <= 0 {
		return
	}
	w.b.ReportMetric(w.cpu.Seconds()/float64(w.n), "cpu-s/op")
	w.b.ReportMetric(w.cpu.Seconds()/w.wall.Seconds(), "cores")
	if w.client != nil {
		w.b.ReportMetric(w.writes/float64(w.n), "server-writes/op")
	}
}

// processCPU is the user and system CPU time of this process so far, every
// thread included.
func processCPU(b testing.TB) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// serverWrites is how many write requests (every verb but GET, LIST and
// WATCH) the API server has answered since it started, whoever sent them,
// from its apiserver_request_total counter.
func serverWrites(b testing.TB, client *kube.Client) float64 {
	b.Helper()
	raw, err := client.Clientset.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	if err != nil {
		b.Fatalf("read the API server's metrics: %v", err)
	}
	const metric = "apiserver_request_total{"
	total := 0.0
	for line := range strings.Lines(string(raw)) {
		labels, value, ok := strings.Cut(strings.TrimPrefix(line, metric), "} ")
		if !ok || !strings.HasPrefix(line, metric) {
			continue
		}
		verb := ""
		for l := range strings.SplitSeq(labels, ",") {
			if v, ok := strings.CutPrefix(l, "verb="); ok {
				verb = strings.Trim(v, `"`)
			}
		}
		switch verb {
		case "GET", "LIST", "WATCH", "WATCHLIST":
			continue
		}
		n, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			b.Fatalf("API server metric %q: %v", line, err)
		}
		total += n
	}
	return total
}
