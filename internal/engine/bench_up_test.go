package engine

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/envctl/envctl/internal/cluster/embedded"
	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/kube"
	"github.com/envctl/envctl/internal/source"
)

// upChildEnv makes the test binary act as `envctl up ci` from nothing:
// BenchmarkUpCI re-executes it with this variable set, because one embedded
// control plane runs per process (the API server keeps global state) and
// because a fresh process is what a user's `envctl up ci` pays for.
const upChildEnv = "ENVCTL_ENGINE_BENCH_UP_CI"

// upCIChild starts an embedded cluster with the ci environment's nodes,
// renders the repository's ci environment, reconciles it until every
// component is healthy, prints "done <cluster-ns> <requests> <writes>
// <cpu-ns>" and stops the cluster. It returns the process exit code.
func upCIChild() int {
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	root := filepath.Join("..", "..")
	snap, err := source.Local(root)
	if err != nil {
		return fail(err)
	}
	d, err := LoadSnapshot(snap, LoadOptions{
		Source:      source.Dir{Path: root},
		Environment: "ci",
		Config:      config.LoadOptions{LookupEnv: func(string) (string, bool) { return "", false }},
	})
	if err != nil {
		return fail(err)
	}
	env := d.Env
	var nodes []config.NodePool
	if env.Spec.Cluster.Embedded != nil {
		nodes = env.Spec.Cluster.Embedded.Nodes
	}
	dir, err := os.MkdirTemp("", "envctl-bench-up-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(dir)

	began := time.Now()
	cp, err := embedded.Start(ctx, embedded.Options{Dir: dir, Nodes: nodes, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return fail(err)
	}
	defer cp.Stop()
	if err := cp.WaitUsable(ctx); err != nil {
		return fail(err)
	}
	clusterTook := time.Since(began)
	cfg, counter := kube.CountingConfig(cp.RESTConfig())
	client, err := kube.New(cfg)
	if err != nil {
		return fail(err)
	}
	_, err = New(Config{Client: client}).Reconcile(ctx, Request{Declared: d})
	if err != nil {
		return fail(err)
	}
	s := counter.Snapshot()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return fail(err)
	}
	fmt.Printf("done %d %d %d %d\n", clusterTook.Nanoseconds(), s.Requests, s.Writes, ru.Utime.Nano()+ru.Stime.Nano())
	return 0
}

// BenchmarkUpCI measures `envctl up ci` from nothing: a fresh process
// starts an embedded cluster with ci's nodes, renders the repository's ci
// environment and reconciles it until every component is healthy. ns/op
// runs from exec to healthy (the child stops its cluster afterwards, outside
// the timer: a user's cluster stays up); cluster-ms is the cluster's share
// (start until nodes Ready and the default ServiceAccount exists); cpu-s/op
// is the child's user and system CPU time until healthy.
func BenchmarkUpCI(b *testing.B) {
	if testing.Short() {
		b.Skip("starts an embedded cluster per iteration")
	}
	var clusterNS, requests, writes, cpuNS int64
	for b.Loop() {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), upChildEnv+"=1")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		// The child says "done" once everything is healthy; what it does
		// after that (stop the cluster) is not what a user waits for.
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		b.StopTimer()
		_, _ = io.Copy(io.Discard, stdout)
		if err := cmd.Wait(); err != nil {
			b.Fatalf("up ci: %v\n%s", err, stderr.String())
		}
		var c, r, w, u int64
		if _, err := fmt.Sscanf(line, "done %d %d %d %d", &c, &r, &w, &u); err != nil {
			b.Fatalf("child said %q: %v\n%s", line, err, stderr.String())
		}
		clusterNS += c
		requests += r
		writes += w
		cpuNS += u
		b.StartTimer()
	}
	b.ReportMetric(float64(clusterNS)/1e6/float64(b.N), "cluster-ms")
	b.ReportMetric(float64(requests)/float64(b.N), "requests/op")
	b.ReportMetric(float64(writes)/float64(b.N), "writes/op")
	b.ReportMetric(float64(cpuNS)/1e9/float64(b.N), "cpu-s/op")
}
