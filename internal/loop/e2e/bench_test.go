package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// idleWindow is how long the idle CPU of a converged daemon is measured.
const idleWindow = 10 * time.Second

// BenchmarkDaemonFootprint1000 runs `envctl daemon` on an environment of
// 1,000 ConfigMaps and reports, once it is ready and has settled, its
// resident memory (rss-MiB), its peak (peak-rss-MiB) and the CPU it uses
// while idle (idle-cpu-%, of one core over 10 s). base-rss-MiB is the peak
// of `envctl version` in the same binary: what loading envctl costs before
// the loop does anything (the embedded control plane compiled in
// initialises much of Kubernetes' API machinery at start).
func BenchmarkDaemonFootprint1000(b *testing.B) {
	r := newRepo(b)
	var kv []string
	for i := range 1000 {
		kv = append(kv, fmt.Sprintf("cm-%04d", i), "v")
	}
	r.configMaps(kv...)
	daemonFootprint(b, r, r.dir, r.env)
}

// BenchmarkDaemonFootprintCI does the same for the repository's own ci
// environment (every component of the example platform), applied to the
// package's test cluster.
func BenchmarkDaemonFootprintCI(b *testing.B) {
	r := newRepo(b)
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		b.Fatal(err)
	}
	daemonFootprint(b, r, root, "ci")
}

func daemonFootprint(b *testing.B, r *repo, dir, env string) {
	addr := freeAddr(b)
	var rss, peak, cpu float64
	for range b.N {
		p := r.startIn(dir, "daemon", env, "--kubeconfig", r.kubeconfig, "--listen", addr, "--log-format", "text")
		began := time.Now()
		eventually(b, 5*time.Minute, "the daemon to be ready", func() error {
			if p.exited() {
				return fmt.Errorf("exited %d: %s", p.code, p.err)
			}
			code, body, err := get(addr, "/readyz")
			if err != nil || code != 200 || !strings.Contains(body, "leader") {
				return fmt.Errorf("/readyz %d %q %v", code, body, err)
			}
			return nil
		})
		b.Logf("ready after %v", time.Since(began).Round(time.Millisecond))
		time.Sleep(2 * time.Second) // let the first checks of every object finish
		t0 := cpuTime(b, p.pid())
		time.Sleep(idleWindow)
		t1 := cpuTime(b, p.pid())
		cpu += float64(t1-t0) / float64(idleWindow) * 100
		cur, hwm := memory(b, p.pid())
		rss += cur
		peak += hwm
		if code, _ := p.stop(syscall.SIGTERM, 10*time.Second); code != 0 {
			b.Errorf("daemon exit %d after SIGTERM", code)
		}
	}
	n := float64(b.N)
	if base, ok := baseRSS(b); ok {
		b.ReportMetric(base, "base-rss-MiB")
	}
	b.ReportMetric(rss/n, "rss-MiB")
	b.ReportMetric(peak/n, "peak-rss-MiB")
	b.ReportMetric(cpu/n, "idle-cpu-%")
}

// startIn runs envctl args with -C dir instead of the test's repository.
func (r *repo) startIn(dir string, args ...string) *proc {
	saved := r.dir
	r.dir = dir
	defer func() { r.dir = saved }()
	return r.start(args...)
}

// cpuTime is the user and system CPU time of process pid.
func cpuTime(b *testing.B, pid int) time.Duration {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Skipf("no /proc to read CPU time from: %v", err)
	}
	// Fields after the command name (which may hold spaces) in parentheses.
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticks
}

// memory is the resident set and its peak of process pid, in MiB.
func memory(b *testing.B, pid int) (rss, peak float64) {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Skipf("no /proc to read memory from: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
		if err != nil {
			continue
		}
		switch k {
		case "VmRSS":
			rss = kb / 1024
		case "VmHWM":
			peak = kb / 1024
		}
	}
	return rss, peak
}

// baseRSS is the peak resident set, in MiB, of `envctl version` run by
// GNU time (whose small process forks it: the rusage of a child forked by
// the test process would count the test's own pages).
func baseRSS(b *testing.B) (float64, bool) {
	if _, err := os.Stat("/usr/bin/time"); err != nil {
		return 0, false
	}
	cmd := exec.Command("/usr/bin/time", "-f", "%M", envctlBinary(), "version")
	cmd.Env = append(os.Environ(), asCLIEnv+"=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		b.Logf("envctl version under /usr/bin/time: %v: %s", err, stderr.String())
		return 0, false
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	kb, err := strconv.ParseFloat(lines[len(lines)-1], 64)
	if err != nil {
		return 0, false
	}
	return kb / 1024, true
}
