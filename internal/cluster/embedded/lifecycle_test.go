package embedded_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/envctl/envctl/internal/cluster/embedded"
	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/errs"
)

// quiet discards the control plane's logs in tests that start their own.
var quiet = slog.New(slog.DiscardHandler)

// goroutinesIn counts the goroutines whose stacks mention fn.
func goroutinesIn(fn string) int {
	buf := make([]byte, 16<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		if bytes.Contains(g, []byte(fn)) {
			n++
		}
	}
	return n
}

// Long-running loops of each component; after Stop, none of the stopped
// control plane's may remain.
var componentLoops = []string{
	"go.etcd.io/etcd/server/v3/etcdserver.(*EtcdServer).run(",
	"k8s.io/kubernetes/pkg/scheduler.(*Scheduler).ScheduleOne",
	"k8s.io/kubernetes/pkg/controller/deployment.(*DeploymentController).worker",
	"nodesim.(*Simulator).heartbeat",
}

func TestStopReleasesEverything(t *testing.T) {
	if !alone(t) {
		return
	}
	before := map[string]int{}
	for _, fn := range componentLoops {
		before[fn] = goroutinesIn(fn)
	}
	dir := t.TempDir()
	cp, err := embedded.Start(context.Background(), embedded.Options{Dir: dir, Logger: quiet, Nodes: []config.NodePool{{Count: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cp.WaitUsable(ctx); err != nil {
		t.Fatal(err)
	}
	for _, fn := range componentLoops {
		if goroutinesIn(fn) <= before[fn] {
			t.Errorf("no goroutine in %s while running; the check would prove nothing", fn)
		}
	}
	u, err := url.Parse(cp.Server())
	if err != nil {
		t.Fatal(err)
	}

	began := time.Now()
	if err := cp.Stop(); err != nil {
		t.Errorf("Stop: %v", err)
	}
	t.Logf("stopped in %v", time.Since(began))
	if err := cp.Wait(); err != nil {
		t.Errorf("Wait after Stop: %v", err)
	}
	select {
	case <-cp.Done():
	default:
		t.Error("Done not closed after Stop")
	}

	if c, err := net.DialTimeout("tcp", u.Host, time.Second); err == nil {
		c.Close()
		t.Errorf("API server port %s still accepts connections", u.Host)
	}
	if c, err := net.DialTimeout("unix", filepath.Join(dir, "etcd", "etcd.sock"), time.Second); err == nil {
		c.Close()
		t.Error("etcd socket still accepts connections")
	}
	// Components wind down asynchronously in places (informer goroutines
	// notice a closed channel); give them a moment.
	deadline := time.Now().Add(5 * time.Second)
	for _, fn := range componentLoops {
		for goroutinesIn(fn) > before[fn] && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if n := goroutinesIn(fn); n > before[fn] {
			t.Errorf("%d goroutines still in %s after Stop (had %d before Start)", n, fn, before[fn])
		}
	}
}

func TestContextEndStopsTheControlPlane(t *testing.T) {
	if !alone(t) {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	cp, err := embedded.Start(ctx, embedded.Options{Dir: t.TempDir(), Logger: quiet})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	cancel()
	select {
	case <-cp.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("control plane still running 30s after its context ended")
	}
	if err := cp.Wait(); err != nil {
		t.Errorf("Wait: %v", err)
	}
}

// A second control plane in the same process is refused up front, and one
// can start again after the first has stopped.
func TestOneControlPlanePerProcess(t *testing.T) {
	if !alone(t) {
		return
	}
	for i := range 2 {
		cp, err := embedded.Start(context.Background(), embedded.Options{Dir: t.TempDir(), Logger: quiet})
		if err != nil {
			t.Fatalf("start %d: %v", i+1, err)
		}
		second, err := embedded.Start(context.Background(), embedded.Options{Dir: t.TempDir(), Logger: quiet})
		if err == nil {
			_ = second.Stop()
			t.Errorf("start %d: a second control plane started alongside", i+1)
		} else if !strings.Contains(err.Error(), "only one can run at a time") {
			t.Errorf("start %d: second control plane: %v, want it refused as the second in the process", i+1, err)
		}
		if err := cp.Stop(); err != nil {
			t.Fatalf("stop %d: %v", i+1, err)
		}
	}
}

// A control plane started on the state directory of a stopped one finds
// the objects, the nodes and the credentials of the first.
func TestRestartKeepsState(t *testing.T) {
	if !alone(t) {
		return
	}
	dir := t.TempDir()
	opts := embedded.Options{Dir: dir, Logger: quiet, Nodes: []config.NodePool{{Count: 1}}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	first, err := embedded.Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := first.WaitUsable(ctx); err != nil {
		t.Fatal(err)
	}
	oldConfig := first.RESTConfig()
	c := kubernetes.NewForConfigOrDie(oldConfig)
	if _, err := c.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "kept"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := first.Stop(); err != nil {
		t.Fatal(err)
	}

	second, err := embedded.Start(ctx, opts)
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	defer second.Stop()
	if err := second.WaitUsable(ctx); err != nil {
		t.Fatal(err)
	}
	// The first run's admin credentials still work (the CA was kept); only
	// the port may differ.
	oldConfig.Host = second.Server()
	c = kubernetes.NewForConfigOrDie(oldConfig)
	if _, err := c.CoreV1().ConfigMaps("default").Get(ctx, "kept", metav1.GetOptions{}); err != nil {
		t.Errorf("configmap from the first run: %v", err)
	}
	nodes, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes.Items) != 1 {
		t.Errorf("%d nodes after restart, want 1", len(nodes.Items))
	}
}

func TestStartRejectsBadOptions(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := busy.Addr().(*net.TCPAddr).Port

	tests := []struct {
		name string
		opts embedded.Options
		want []string
	}{
		{"no dir", embedded.Options{}, []string{"no state directory"}},
		{"port in use", embedded.Options{Port: busyPort}, []string{"port", "address already in use"}},
		{"bad service CIDR", embedded.Options{ServiceCIDR: "10.96.0.0/99"}, []string{`"10.96.0.0/99" is not a CIDR`}},
		{"bad node pool", embedded.Options{Nodes: []config.NodePool{{Name: "gpu", Count: 1, Capacity: map[string]string{"nvidia.com/gpu": "one"}}}},
			[]string{"node pool 1 (gpu)", `nvidia.com/gpu: "one" is not a quantity`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.name != "no dir" {
				tt.opts.Dir = filepath.Join(dir, "state")
			}
			tt.opts.Logger = quiet
			cp, err := embedded.Start(context.Background(), tt.opts)
			if err == nil {
				_ = cp.Stop()
				t.Fatal("Start succeeded")
			}
			if errs.KindOf(err) != errs.KindInput {
				t.Errorf("error kind %v, want input: %v", errs.KindOf(err), err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			// Nothing was started or written, except for a busy port,
			// which is found out only by trying it.
			if tt.name != "port in use" {
				if _, err := os.Stat(filepath.Join(dir, "state")); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("state dir exists after a rejected start (%v)", err)
				}
			}
		})
	}
}
