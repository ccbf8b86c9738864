package cli

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/lease"
	"github.com/envctl/envctl/internal/testenv"
	"github.com/envctl/envctl/internal/testhook"
)

// A Lease taken away mid-run, through a real `envctl apply` that reaches
// the cluster through a recording proxy: the apply is paused after its
// first write; while the proxy holds everything it sends and receives,
// another holder takes the Lease and stores an inventory of its own; then
// the apply is let go. It stops with exit 6, and the proxy passes on no
// write of it after the Lease changed hands (its lock's renewal, a
// compare-and-swap on the Lease that the new holder's update makes fail,
// aside); the new holder's inventory is what stays stored.
func TestLockTakenAwayMidRunStopsEveryWrite(t *testing.T) {
	e := newE2E(t, "fence")
	files := map[string]string{"ns.yaml": nsYAML}
	for i := range 5 {
		files[fmt.Sprintf("cm%d.yaml", i)] = cmYAML(fmt.Sprintf("cm%d", i))
	}
	e.overlay(files, "")
	te := testenv.Get(t)
	cs := te.Clientset()
	ctx := t.Context()
	t.Cleanup(func() {
		bg := context.Background()
		_ = cs.CoordinationV1().Leases(lease.Namespace).Delete(bg, lease.Name(e.env), metav1.DeleteOptions{})
		_ = cs.CoreV1().ConfigMaps(inventory.Namespace).DeleteCollection(bg, metav1.DeleteOptions{},
			metav1.ListOptions{LabelSelector: inventory.LabelInventory + "=" + e.env})
	})

	proxy := te.Proxy(t)
	direct := e.kubeconfig
	e.kubeconfig = proxy.Kubeconfig(t)
	// The first write is the Namespace, alone in its stage: the apply
	// pauses with the ConfigMaps, the health wait and the inventory save
	// still ahead of it.
	holder := e.start(testhook.Apply+"#1", nil, "apply")
	e.kubeconfig = direct
	holder.waitPaused(testhook.Apply)

	proxy.Freeze()
	lost := time.Now()
	leases := cs.CoordinationV1().Leases(lease.Namespace)
	l, err := leases.Get(ctx, lease.Name(e.env), metav1.GetOptions{})
	if err != nil {
		proxy.Thaw()
		t.Fatal(err)
	}
	thief := "envctl apply (pid 1 on elsewhere, test)"
	now := metav1.NowMicro()
	l.Spec.HolderIdentity, l.Spec.AcquireTime, l.Spec.RenewTime = &thief, &now, &now
	if _, err := leases.Update(ctx, l, metav1.UpdateOptions{}); err != nil {
		proxy.Thaw()
		t.Fatal(err)
	}
	// The new holder reads what the old one recorded and stores its own.
	store := inventory.NewStore(cs)
	mine, err := store.Load(ctx, e.env)
	if err != nil {
		proxy.Thaw()
		t.Fatalf("the inventory the paused apply recorded: %v", err)
	}
	mine.Revision = "the new holder's revision"
	mine.Entries = mine.Entries[:1]
	if _, err := store.Save(ctx, mine); err != nil {
		proxy.Thaw()
		t.Fatal(err)
	}
	proxy.Thaw()

	if code := holder.wait(timeoutRun); code != ExitCluster {
		t.Errorf("the apply whose lock was taken: exit %d, want %d", code, ExitCluster)
	}
	mustContain(t, "the apply whose lock was taken", holder.errOut.String(), "lost the lock of environment "+e.env, "taken by "+thief)

	lockPath := "/apis/coordination.k8s.io/v1/namespaces/" + lease.Namespace + "/leases/" + lease.Name(e.env)
	before, after := proxy.WritesAround(lost, lockPath)
	if len(before) == 0 {
		t.Error("the proxy passed on no write before the lock was taken: the apply did not go through it")
	}
	if len(after) > 0 {
		t.Errorf("%d writes reached the API server after the lock was taken:\n  %s", len(after), strings.Join(after, "\n  "))
	}
	got, err := store.Load(ctx, e.env)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(mine, got); diff != "" {
		t.Errorf("the new holder's inventory changed (-stored by it +stored now):\n%s", diff)
	}
	for i := range 5 {
		if e.configMapExists(fmt.Sprintf("cm%d", i)) {
			t.Errorf("ConfigMap cm%d was applied after the lock was taken", i)
		}
	}
}
