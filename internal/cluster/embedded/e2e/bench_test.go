package e2e_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// The benchmarks go the way a user does: `envctl cluster create` as a
// process of its own, which starts the detached serve process and returns
// once the cluster is usable; clients through the written kubeconfig.

// BenchmarkCreate measures `envctl cluster create NAME --provider
// embedded` of a new cluster: ns/op until the command exits (the cluster
// usable, the context written), api-ms until the API server answers
// /readyz (polled every 5 ms from the state directory's kubeconfig), and
// usable-ms the same as ns/op in milliseconds, for benchstat's medians.
func BenchmarkCreate(b *testing.B) {
	s := newSandbox(b)
	var apiTotal, usableTotal time.Duration
	i := 0
	for b.Loop() {
		i++
		name := fmt.Sprintf("bench-%d", i)
		began := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
		cmd := s.command(ctx, "cluster", "create", name, "--provider", "embedded", "--set-context=false")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		api, err := waitReadyz(ctx, s.clusterDir(name))
		if err != nil {
			b.Fatalf("API server of %s: %v\n%s", name, err, stderr.String())
		}
		if err := cmd.Wait(); err != nil {
			b.Fatalf("create %s: %v\n%s", name, err, stderr.String())
		}
		usable := time.Since(began)
		cancel()
		apiTotal += api.Sub(began)
		usableTotal += usable

		b.StopTimer()
		s.mustRun("cluster", "delete", name)
		b.StartTimer()
	}
	b.ReportMetric(float64(apiTotal.Milliseconds())/float64(b.N), "api-ms")
	b.ReportMetric(float64(usableTotal.Milliseconds())/float64(b.N), "usable-ms")
}

// waitReadyz polls until the cluster in dir has written its server to the
// state file and that server answers /readyz with 200, and returns when.
func waitReadyz(ctx context.Context, dir string) (time.Time, error) {
	var client *http.Client
	var server string
	for {
		if client == nil {
			server, client = readyzClient(dir)
		}
		if client != nil {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, server+"/readyz", nil)
			if resp, err := client.Do(req); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return time.Now(), nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// readyzClient returns the server and an HTTP client for it once the
// serve process has written them, else "" and nil.
func readyzClient(dir string) (string, *http.Client) {
	data, err := os.ReadFile(filepath.Join(dir, "cluster.json"))
	if err != nil {
		return "", nil
	}
	var st struct{ Server string }
	if json.Unmarshal(data, &st) != nil || st.Server == "" {
		return "", nil
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(dir, "admin.kubeconfig"))
	if err != nil || cfg.Host != st.Server {
		return "", nil // the kubeconfig of this start is not written yet
	}
	cfg.Timeout = time.Second
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return "", nil
	}
	return st.Server, hc
}

// benchCluster creates a cluster for a benchmark and returns a client
// through its context and the pid of its serve process.
func benchCluster(b *testing.B, name string) (*sandbox, kubernetes.Interface, int) {
	s := newSandbox(b)
	s.mustRun("cluster", "create", name, "--provider", "embedded")
	b.Cleanup(func() { s.run("cluster", "delete", name) })
	c, _ := s.client(name)
	return s, c, s.pid(name)
}

// BenchmarkDeployment3Ready measures, on a detached cluster, a 3-replica
// Deployment from create until its three pods are Ready.
func BenchmarkDeployment3Ready(b *testing.B) {
	_, c, _ := benchCluster(b, "deploy")
	ctx := context.Background()
	i := 0
	for b.Loop() {
		i++
		name := fmt.Sprintf("web-%d", i)
		if _, err := c.AppsV1().Deployments("default").Create(ctx, deployment(name, 3), metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		for readyPods(ctx, b, c, name) < 3 {
			time.Sleep(5 * time.Millisecond)
		}
		b.StopTimer()
		if err := c.AppsV1().Deployments("default").Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

func readyPods(ctx context.Context, b *testing.B, c kubernetes.Interface, app string) int {
	pods, err := c.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for _, p := range pods.Items {
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
				n++
			}
		}
	}
	return n
}

// idlePeriod is how long BenchmarkIdle watches the serve process.
const idlePeriod = 20 * time.Second

// BenchmarkIdle reports what a detached cluster costs while nothing
// happens, from the serve process's /proc: resident memory at the end and
// CPU use over idlePeriod, after a 3-replica Deployment has settled. It
// runs once whatever b.N is.
func BenchmarkIdle(b *testing.B) {
	_, c, pid := benchCluster(b, "idle")
	ctx := context.Background()
	if _, err := c.AppsV1().Deployments("default").Create(ctx, deployment("idle", 3), metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	for readyPods(ctx, b, c, "idle") < 3 {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(5 * time.Second)
	b.ResetTimer()
	cpu0 := procCPU(b, pid)
	time.Sleep(idlePeriod)
	cpu := procCPU(b, pid) - cpu0
	b.StopTimer()
	b.ReportMetric(float64(procRSS(b, pid))/1024, "rss-MiB")
	b.ReportMetric(100*cpu.Seconds()/idlePeriod.Seconds(), "cpu-%")
}

// procCPU is the user and system CPU time process pid has used. The
// kernel reports it in USER_HZ ticks, 100 a second on Linux.
func procCPU(b *testing.B, pid int) time.Duration {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100
}

// procRSS is the resident memory of process pid in KiB.
func procRSS(b *testing.B, pid int) int64 {
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kib, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kib
		}
	}
	b.Fatalf("/proc/%d/status has no VmRSS", pid)
	return 0
}
