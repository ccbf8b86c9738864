package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/object"
)

// running waits until p's loop has applied and recorded that it runs.
func (r *repo) running(p *proc) {
	r.t.Helper()
	eventually(r.t, 90*time.Second, "the loop to apply and record its status", func() error {
		if p.exited() {
			r.t.Fatalf("envctl %s exited with %d:\n%s", strings.Join(p.args, " "), p.code, p.err)
		}
		st := r.status()
		if st == nil || !st.Running || st.LastAppliedRevision == "" || !strings.Contains(st.Holder, fmt.Sprintf("(pid %d ", p.pid())) {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
}

func TestSyncCorrectsDriftAndStopsCleanlyOnSIGTERM(t *testing.T) {
	r := newRepo(t)
	r.configMaps("a", "one")
	p := r.start("sync", r.env)
	r.running(p)

	// A kubectl edit is undone; the inventory learns the new fields only
	// at the save on shutdown.
	ctx := context.Background()
	cms := r.te.Clientset().CoreV1().ConfigMaps(r.ns)
	if _, err := cms.Patch(ctx, "a", types.MergePatchType, []byte(`{"data":{"value":"edited","more":"x"}}`), metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the edit to be undone", func() error {
		cm, err := cms.Get(ctx, "a", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if cm.Data["value"] != "one" || len(cm.Data) != 1 {
			return fmt.Errorf("data %v", cm.Data)
		}
		return nil
	})
	// A file change is applied.
	r.configMaps("a", "two")
	eventually(t, 15*time.Second, "the file change to be applied", func() error {
		v, err := r.value("a")
		if err != nil || v != "two" {
			return fmt.Errorf("value %q, %v", v, err)
		}
		return nil
	})

	code, took := p.stop(syscall.SIGTERM, 10*time.Second)
	if code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
	t.Logf("stopped %v after SIGTERM", took)
	if st := r.status(); st == nil || st.Running || st.StoppedAt.IsZero() || st.DriftCorrected < 1 {
		t.Errorf("recorded status after the stop: %+v", st)
	}
	if l := r.lock(); l == nil || l.Holder != "" {
		t.Errorf("lock after the stop: %+v, want released", l)
	}
	live, err := cms.Get(ctx, "a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.NewStore(r.te.Clientset()).Load(ctx, r.env)
	if err != nil {
		t.Fatal(err)
	}
	e, ok := inv.Lookup(object.Key{Kind: "ConfigMap", Namespace: r.ns, Name: "a"})
	if !ok {
		t.Fatal("the inventory lost the ConfigMap")
	}
	if e.Digest != live.Annotations["envctl.dev/digest"] {
		t.Errorf("inventory digest %s, live %s", e.Digest, live.Annotations["envctl.dev/digest"])
	}
}

// TestSecondSyncWaitsAndSaysWhoHoldsTheEnvironment: two syncs of one
// environment never apply at once; the second waits for the lock and, when
// its --lock-timeout passes, names the holder and exits with the conflict
// code.
func TestSecondSyncWaitsAndSaysWhoHoldsTheEnvironment(t *testing.T) {
	r := newRepo(t)
	r.configMaps("a", "one")
	first := r.start("sync", r.env)
	r.running(first)

	code, _, stderr := r.run("sync", r.env, "--lock-timeout", "2s")
	if code != 5 {
		t.Errorf("second sync exit %d, want 5 (conflict)", code)
	}
	holder := fmt.Sprintf("envctl sync (pid %d on ", first.pid())
	for _, want := range []string{"waiting for " + holder, "is being written by " + holder} {
		if !strings.Contains(stderr, want) {
			t.Errorf("second sync's stderr does not say %q:\n%s", want, stderr)
		}
	}
	if !r.holds(first) {
		t.Errorf("the first sync no longer holds the lock: %+v", r.lock())
	}

	// Once the first stops, a second one takes over at once.
	if code, _ := first.stop(syscall.SIGINT, 10*time.Second); code != 0 {
		t.Errorf("first sync exit %d after SIGINT", code)
	}
	second := r.start("sync", r.env, "--lock-timeout", "5s")
	r.running(second)
	if code, _ := second.stop(syscall.SIGTERM, 10*time.Second); code != 0 {
		t.Errorf("second sync exit %d after SIGTERM", code)
	}
}

func TestReconcileSuspendResumeAndStatusAgainstADaemon(t *testing.T) {
	r := newRepo(t)
	r.configMaps("a", "one")
	addr := freeAddr(t)
	d := r.start("daemon", r.env, "--kubeconfig", r.kubeconfig, "--listen", addr)
	r.running(d)

	code, stdout, stderr := r.run("reconcile", r.env, "--kubeconfig", r.kubeconfig)
	if code != 0 || !strings.Contains(stdout, "environment "+r.env+" reconciled at revision sha256:") {
		t.Errorf("reconcile: exit %d\n%s%s", code, stdout, stderr)
	}

	code, stdout, _ = r.run("status", r.env, "--kubeconfig", r.kubeconfig, "-o", "json")
	var report struct {
		Sync *struct {
			Alive     bool   `json:"alive"`
			Holder    string `json:"holder"`
			Mode      string `json:"mode"`
			Suspended bool   `json:"suspended"`
			Applied   string `json:"lastAppliedRevision"`
		} `json:"sync"`
	}
	if err := json.Unmarshal([]byte(stdout), &report); err != nil {
		t.Fatalf("status -o json (exit %d): %v\n%s", code, err, stdout)
	}
	if report.Sync == nil || !report.Sync.Alive || report.Sync.Mode != "daemon" || !strings.HasPrefix(report.Sync.Applied, "sha256:") ||
		!strings.Contains(report.Sync.Holder, fmt.Sprintf("(pid %d ", d.pid())) {
		t.Errorf("status shows sync %+v", report.Sync)
	}
	code, stdout, _ = r.run("status", r.env, "--kubeconfig", r.kubeconfig)
	if code != 0 || !strings.Contains(stdout, "Sync: envctl daemon (pid") || !strings.Contains(stdout, "suspended:       no") {
		t.Errorf("status text (exit %d):\n%s", code, stdout)
	}

	code, stdout, _ = r.run("suspend", r.env, "--kubeconfig", r.kubeconfig)
	if code != 0 || !strings.Contains(stdout, "suspended (acknowledged by envctl daemon") {
		t.Errorf("suspend: exit %d: %s", code, stdout)
	}
	// Suspended: a file change waits, and a reconcile is refused.
	r.configMaps("a", "two")
	code, _, stderr = r.run("reconcile", r.env, "--kubeconfig", r.kubeconfig)
	if code != 2 || !strings.Contains(stderr, "suspended") {
		t.Errorf("reconcile while suspended: exit %d, want 2: %s", code, stderr)
	}
	if v, err := r.value("a"); err != nil || v != "one" {
		t.Errorf("while suspended the value became %q (%v)", v, err)
	}
	code, stdout, _ = r.run("resume", r.env, "--kubeconfig", r.kubeconfig)
	if code != 0 || !strings.Contains(stdout, "resumed (acknowledged by") {
		t.Errorf("resume: exit %d: %s", code, stdout)
	}
	eventually(t, 15*time.Second, "the change made while suspended to be applied", func() error {
		v, err := r.value("a")
		if err != nil || v != "two" {
			return fmt.Errorf("value %q, %v", v, err)
		}
		return nil
	})
	if code, _ := d.stop(syscall.SIGTERM, 10*time.Second); code != 0 {
		t.Errorf("daemon exit %d after SIGTERM", code)
	}
	// With no loop running, reconcile says so.
	code, _, stderr = r.run("reconcile", r.env, "--kubeconfig", r.kubeconfig)
	if code != 2 || !strings.Contains(stderr, "no envctl sync or daemon runs") {
		t.Errorf("reconcile without a loop: exit %d: %s", code, stderr)
	}
}

func TestTwoDaemonsElectOneLeaderAndHandOverOnSIGTERM(t *testing.T) {
	r := newRepo(t)
	r.configMaps("a", "one")
	addrA, addrB := freeAddr(t), freeAddr(t)
	a := r.start("daemon", r.env, "--kubeconfig", r.kubeconfig, "--listen", addrA)
	r.running(a)
	b := r.start("daemon", r.env, "--kubeconfig", r.kubeconfig, "--listen", addrB)
	eventually(t, 30*time.Second, "the second daemon to serve", func() error {
		_, _, err := get(addrB, "/healthz")
		return err
	})

	leader, standby := a, b
	leaderAddr, standbyAddr := addrA, addrB
	if !r.holds(a) {
		t.Fatalf("the first daemon does not hold the lock: %+v", r.lock())
	}
	for _, c := range []struct {
		addr, want string
	}{{leaderAddr, "leader"}, {standbyAddr, "standby"}} {
		code, body, err := get(c.addr, "/readyz")
		if err != nil || code != 200 || !strings.Contains(body, c.want) {
			t.Errorf("/readyz of the %s: %d %q %v", c.want, code, body, err)
		}
	}
	_, metrics, err := get(standbyAddr, "/metrics")
	leaderSample := func(v string) string { return `envctl_leader{environment="` + r.env + `"} ` + v }
	if err != nil || !strings.Contains(metrics, leaderSample("0")) {
		t.Errorf("standby's metrics do not say %s (%v)", leaderSample("0"), err)
	}
	_, metrics, err = get(leaderAddr, "/metrics")
	if err != nil || !strings.Contains(metrics, leaderSample("1")) {
		t.Errorf("leader's metrics do not say %s (%v)", leaderSample("1"), err)
	}

	code, took := leader.stop(syscall.SIGTERM, 10*time.Second)
	if code != 0 {
		t.Errorf("leader exit %d after SIGTERM", code)
	}
	stopped := time.Now()
	eventually(t, 10*time.Second, "the standby to take over", func() error {
		if !r.holds(standby) {
			return fmt.Errorf("lock %+v", r.lock())
		}
		return nil
	})
	t.Logf("leader stopped in %v; standby took over %v later", took, time.Since(stopped))
	if d := time.Since(stopped); d > 5*time.Second {
		t.Errorf("the standby took over %v after the leader stopped, want within seconds", d)
	}
	// The new leader reconciles: drift is corrected.
	ctx := context.Background()
	if err := r.te.Clientset().CoreV1().ConfigMaps(r.ns).Delete(ctx, "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the new leader to restore the deleted object", func() error {
		_, err := r.value("a")
		return err
	})
	if code, _ := standby.stop(syscall.SIGTERM, 10*time.Second); code != 0 {
		t.Errorf("second daemon exit %d after SIGTERM", code)
	}
}
