package engine

import (
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"strings"
	"syscall"
	"testing"
	"time"
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
type window struct {
	b    *testing.B
	n    int
	wall time.Duration
	cpu  time.Duration

	began    time.Time
	cpuBegan time.Duration
	prof     *os.File
}

func newWindow(b *testing.B) *window { return &window{b: b} }

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
	w.cpuBegan = processCPU(w.b)
	w.began = time.Now()
}

// stop closes the window opened by start.
func (w *window) stop() {
	w.b.Helper()
	w.wall += time.Since(w.began)
	w.cpu += processCPU(w.b) - w.cpuBegan
	w.n++
	if w.prof != nil {
		pprof.StopCPUProfile()
		if err := w.prof.Close(); err != nil {
			w.b.Fatal(err)
		}
		w.prof = nil
	}
}

// report adds cpu-s/op (CPU seconds of the process per window) and cores
// (CPU time over wall time: 2 would be both cores of the machine busy).
func (w *window) report() {
	if w.n == 0 || w.wall <= 0 {
		return
	}
	w.b.ReportMetric(w.cpu.Seconds()/float64(w.n), "cpu-s/op")
	w.b.ReportMetric(w.cpu.Seconds()/w.wall.Seconds(), "cores")
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
