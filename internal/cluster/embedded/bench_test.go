package embedded_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/envctl/envctl/internal/cluster/embedded"
	"github.com/envctl/envctl/internal/testenv"
)

// The start benchmarks start each control plane in a fresh process (the
// test binary, re-executed): one control plane runs per process at a time,
// the shared test cluster may be running in this one, and a fresh process
// is what a user's `envctl up` pays for, package initialisation included.
// ns/op runs from exec to ready; start-ms is Start (and WaitUsable) as
// measured inside the child, and cpu-ms the child's CPU time until ready,
// which unlike wall time does not depend on what else the machine does.

// startChildEnv selects the child mode of the test binary: "api" or "usable".
const startChildEnv = "ENVCTL_EMBEDDED_BENCH_START"

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// startChild is the child's main: start, report, wait for stdin to close,
// stop.
func startChild(mode string) int {
	dir, err := os.MkdirTemp("", "envctl-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	began := time.Now()
	cp, err := embedded.Start(context.Background(), embedded.Options{Dir: dir, Logger: quiet, Nodes: testenv.DefaultNodes()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer cp.Stop()
	if mode == "usable" {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := cp.WaitUsable(ctx); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	fmt.Printf("ready %d %d\n", time.Since(began).Nanoseconds(), cpuTime().Nanoseconds())
	_, _ = io.Copy(io.Discard, os.Stdin)
	if err := cp.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func benchmarkStart(b *testing.B, mode string) {
	if testing.Short() {
		b.Skip("starts control planes")
	}
	var startNS, cpuNS int64
	for b.Loop() {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), startChildEnv+"="+mode)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		stdin, err := cmd.StdinPipe()
		if err != nil {
			b.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil {
			_ = cmd.Wait()
			b.Fatalf("child: %v\n%s", err, stderr.String())
		}
		b.StopTimer()
		var s, c int64
		if _, err := fmt.Sscanf(line, "ready %d %d", &s, &c); err != nil {
			b.Fatalf("child said %q: %v", line, err)
		}
		startNS += s
		cpuNS += c
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			b.Fatalf("child: %v\n%s", err, stderr.String())
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(startNS)/1e6/float64(b.N), "start-ms")
	b.ReportMetric(float64(cpuNS)/1e6/float64(b.N), "cpu-ms")
}

// BenchmarkStartAPI measures a start until /readyz answers ok.
func BenchmarkStartAPI(b *testing.B) { benchmarkStart(b, "api") }

// BenchmarkStartUsable measures a start until the nodes are Ready and
// schedulable and default/default exists.
func BenchmarkStartUsable(b *testing.B) { benchmarkStart(b, "usable") }

// BenchmarkDeployment3Ready measures, on the shared cluster, a 3-replica
// Deployment from create until its three pods are Ready.
func BenchmarkDeployment3Ready(b *testing.B) {
	env := testenv.Get(b)
	c := env.Clientset()
	ctx := context.Background()
	ns := env.Namespace(b)
	i := 0
	for b.Loop() {
		i++
		name := fmt.Sprintf("web-%d", i)
		if _, err := c.AppsV1().Deployments(ns).Create(ctx, deployment(name, 3), metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		for {
			pods, err := listPods(ctx, c, ns, name)
			if err != nil {
				b.Fatal(err)
			}
			ready := 0
			for _, p := range pods {
				if podReady(&p) {
					ready++
				}
			}
			if ready == 3 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		b.StopTimer()
		if err := c.AppsV1().Deployments(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkIdle reports what the shared cluster costs while nothing
// happens: the process's resident memory and CPU use over 30 s, after a
// Deployment has settled. It runs once whatever b.N is.
func BenchmarkIdle(b *testing.B) {
	env := testenv.Get(b)
	c := env.Clientset()
	ctx := context.Background()
	ns := env.Namespace(b)
	if _, err := c.AppsV1().Deployments(ns).Create(ctx, deployment("idle", 3), metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	time.Sleep(10 * time.Second)
	pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	running := 0
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodRunning {
			running++
		}
	}
	if running != 3 {
		b.Fatalf("%d pods running before the idle period, want 3", running)
	}
	const period = 30 * time.Second
	b.ResetTimer()
	c0 := cpuTime()
	time.Sleep(period)
	cpu := cpuTime() - c0
	b.StopTimer()
	rss, err := statusKiB("VmRSS")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(rss)/1024, "rss-MiB")
	b.ReportMetric(100*cpu.Seconds()/period.Seconds(), "cpu-%")
}

// statusKiB reads a "kB" field of /proc/self/status.
func statusKiB(field string) (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		name, value, ok := strings.Cut(s.Text(), ":")
		if ok && name == field {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("/proc/self/status has no %s", field)
}
