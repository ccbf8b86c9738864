package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/lease"
)

// useProxy points the environment's cluster at a recording proxy in front
// of the test cluster.
func (r *repo) useProxy(kubeconfig string) {
	r.write("environments/"+r.env+".yaml", `apiVersion: envctl.dev/v1alpha1
kind: Environment
metadata: {name: `+r.env+`}
spec:
  cluster:
    provider: existing
    existing: {kubeconfig: `+kubeconfig+`}
  components:
    - name: app
      kustomize: overlays/app
`)
}

// A Lease taken away from a running `envctl sync`, which reaches the
// cluster through a recording proxy: the sync has corrected a drift (so
// its inventory is to be saved at shutdown) when, while the proxy holds
// everything it sends and receives, another holder takes the Lease and
// stores an inventory of its own; once the sync says it lost the lock, a
// drift it would have corrected. Let go, the sync exits 6, and the proxy
// passes on no write of it after the Lease changed hands (no inventory
// save, no status record, no correction; its lock's renewal, a
// compare-and-swap on the Lease that the new holder's update makes fail,
// aside); the new holder's inventory is what stays stored.
func TestSyncWhoseLockIsTakenWritesNothingMore(t *testing.T) {
	r := newRepo(t)
	r.configMaps("a", "one", "b", "two")
	proxy := r.te.Proxy(t)
	r.useProxy(proxy.Kubeconfig(t))
	p := r.start("sync", r.env)
	r.running(p)

	ctx := context.Background()
	cs := r.te.Clientset()
	cms := cs.CoreV1().ConfigMaps(r.ns)
	if _, err := cms.Patch(ctx, "a", types.MergePatchType, []byte(`{"data":{"value":"edited"}}`), metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "the edit to be undone", func() error {
		if v, err := r.value("a"); err != nil || v != "one" {
			return fmt.Errorf("a = %q, %v", v, err)
		}
		return nil
	})
	time.Sleep(500 * time.Millisecond) // the status record of the correction

	proxy.Freeze()
	lost := time.Now()
	leases := cs.CoordinationV1().Leases(lease.Namespace)
	l, err := leases.Get(ctx, lease.Name(r.env), metav1.GetOptions{})
	if err != nil {
		proxy.Thaw()
		t.Fatal(err)
	}
	thief := "envctl daemon (pid 1 on elsewhere, test)"
	now := metav1.NowMicro()
	l.Spec.HolderIdentity, l.Spec.AcquireTime, l.Spec.RenewTime = &thief, &now, &now
	if _, err := leases.Update(ctx, l, metav1.UpdateOptions{}); err != nil {
		proxy.Thaw()
		t.Fatal(err)
	}
	store := inventory.NewStore(cs)
	mine, err := store.Load(ctx, r.env)
	if err != nil {
		proxy.Thaw()
		t.Fatal(err)
	}
	mine.Revision = "the new holder's revision"
	mine.Entries = mine.Entries[:1]
	if _, err := store.Save(ctx, mine); err != nil {
		proxy.Thaw()
		t.Fatal(err)
	}
	proxy.Thaw()
	// The Lease's watch tells the sync of the loss. A drift made before
	// it knows would race that event on another watch: no envctl takes a
	// Lease before it expired, by when the holder has stopped writing for
	// a third of the duration (Held.Writable), so only a thief overwriting
	// a live Lease, as this test does, can make that race.
	eventually(t, 15*time.Second, "the sync to say it lost its lock", func() error {
		if !strings.Contains(p.err.String(), "lock lost") {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	// A drift the old holder would correct, were it still writing.
	if _, err := cms.Patch(ctx, "b", types.MergePatchType, []byte(`{"data":{"value":"the new holder's"}}`), metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}

	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the sync whose lock was taken did not stop within 30 s")
	}
	if p.code != 6 {
		t.Errorf("the sync whose lock was taken: exit %d, want 6", p.code)
	}
	if !strings.Contains(p.err.String(), "taken by "+thief) {
		t.Errorf("the sync does not say who took its lock:\n%s", p.err)
	}

	lockPath := "/apis/coordination.k8s.io/v1/namespaces/" + lease.Namespace + "/leases/" + lease.Name(r.env)
	before, after := proxy.WritesAround(lost, lockPath)
	if len(before) == 0 {
		t.Error("the proxy passed on no write before the lock was taken: the sync did not go through it")
	}
	if len(after) > 0 {
		t.Errorf("%d writes reached the API server after the lock was taken:\n  %s", len(after), strings.Join(after, "\n  "))
	}
	got, err := store.Load(ctx, r.env)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(mine, got); diff != "" {
		t.Errorf("the new holder's inventory changed (-stored by it +stored now):\n%s", diff)
	}
	if v, err := r.value("b"); err != nil || v != "the new holder's" {
		t.Errorf("b = %q, %v; the old holder corrected it after its lock was taken", v, err)
	}
	if st := r.status(); st == nil || !st.Running {
		t.Errorf("the status record after the loss: %+v; want it as the old holder left it while it held the lock (running)", st)
	}
}
