package lease

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

func TestAcquireCreatesNamespaceAndReleaseClearsHolder(t *testing.T) {
	env := testenv.Get(t)
	ctx := context.Background()
	client := env.Clientset()
	name := "lease-create"
	t.Cleanup(func() {
		_ = client.CoordinationV1().Leases(Namespace).Delete(ctx, Name(name), metav1.DeleteOptions{})
	})

	held, err := Acquire(ctx, client, name, Options{Holder: "first"})
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	if _, err := client.CoreV1().Namespaces().Get(ctx, Namespace, metav1.GetOptions{}); err != nil {
		t.Fatalf("namespace %s after Acquire: %v", Namespace, err)
	}
	info, err := Get(ctx, client, name)
	if err != nil || info == nil {
		t.Fatalf("Get: %v, %v", info, err)
	}
	if info.Holder != "first" || !info.Held(time.Now()) || info.Duration != DefaultDuration {
		t.Errorf("Get = %+v, want held by first for %s", info, DefaultDuration)
	}
	if err := held.Release(ctx); err != nil {
		t.Fatalf("Release: %v", err)
	}
	info, err = Get(ctx, client, name)
	if err != nil {
		t.Fatal(err)
	}
	if info.Holder != "" || info.Held(time.Now()) {
		t.Errorf("after Release: %+v, want no holder", info)
	}
	if err := held.Release(ctx); err != nil {
		t.Errorf("second Release: %v", err)
	}
}

func TestHeldLockRefusesOthersAndSaysWho(t *testing.T) {
	env := testenv.Get(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	client := env.Clientset()

	a, err := Acquire(ctx, client, "dev", Options{Holder: "envctl sync (pid 1 on a)", Namespace: ns, Duration: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release(ctx)

	tests := []struct {
		name string
		wait time.Duration
	}{
		{"no wait", 0},
		// Longer than the duration: renewals keep the lock from expiring.
		{"wait past the duration", 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var told []string
			start := time.Now()
			_, err := Acquire(ctx, client, "dev", Options{
				Holder: "envctl up (pid 2 on b)", Namespace: ns, Wait: tt.wait,
				OnWait: func(holder string, since time.Time) {
					told = append(told, holder+" since "+since.Format(time.RFC3339))
				},
			})
			var held *HeldError
			if !errors.As(err, &held) {
				t.Fatalf("Acquire = %v, want a HeldError", err)
			}
			if errs.KindOf(err) != errs.KindConflict {
				t.Errorf("kind = %v, want conflict", errs.KindOf(err))
			}
			if held.Holder != a.Holder() || !held.Since.Equal(a.Since()) {
				t.Errorf("HeldError = %+v, want holder %q since %v", held, a.Holder(), a.Since())
			}
			if !strings.Contains(err.Error(), "environment dev is being written by envctl sync (pid 1 on a) since ") {
				t.Errorf("message %q does not say who holds the lock", err)
			}
			if elapsed := time.Since(start); elapsed < tt.wait {
				t.Errorf("gave up after %v, before the wait of %v", elapsed, tt.wait)
			}
			if len(told) != 1 || !strings.HasPrefix(told[0], a.Holder()+" since ") {
				t.Errorf("OnWait calls = %q, want one naming %q", told, a.Holder())
			}
		})
	}
	select {
	case <-a.Lost():
		t.Fatalf("holder lost its lock: %v", a.Err())
	default:
	}
}

func TestReleaseHandsOverToAWaiter(t *testing.T) {
	env := testenv.Get(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	client := env.Clientset()

	a, err := Acquire(ctx, client, "dev", Options{Holder: "a", Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	waiting := make(chan struct{})
	type result struct {
		held *Held
		err  error
		at   time.Time
	}
	done := make(chan result, 1)
	go func() {
		var once sync.Once
		h, err := Acquire(ctx, client, "dev", Options{Holder: "b", Namespace: ns, Wait: 30 * time.Second,
			OnWait: func(string, time.Time) { once.Do(func() { close(waiting) }) }})
		done <- result{h, err, time.Now()}
	}()
	<-waiting
	released := time.Now()
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("waiter: %v", r.err)
	}
	defer r.held.Release(ctx)
	// The lease duration is 15 s: taking over well within it shows the
	// release, not an expiry, handed the lock over.
	if d := r.at.Sub(released); d > 2*time.Second {
		t.Errorf("waiter took the lock %v after the release, want within 2s", d)
	}
	info, err := getIn(ctx, env, ns, "dev")
	if err != nil {
		t.Fatal(err)
	}
	if info.Spec.LeaseTransitions == nil || *info.Spec.LeaseTransitions != 1 {
		t.Errorf("leaseTransitions = %v, want 1", info.Spec.LeaseTransitions)
	}
}

func TestAbandonedLockExpires(t *testing.T) {
	env := testenv.Get(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	client := env.Clientset()

	// What a killed holder leaves: a Lease nobody renews. Its renewTime is
	// in the future, as a holder whose clock runs ahead would write it;
	// expiry must not depend on that clock.
	holder, secs := "envctl sync (pid 99 on gone)", int32(2)
	future := metav1.NewMicroTime(time.Now().Add(time.Hour))
	_, err := client.CoordinationV1().Leases(ns).Create(ctx, &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: Name("dev")},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity: &holder, LeaseDurationSeconds: &secs,
			AcquireTime: &future, RenewTime: &future,
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var told string
	h, err := Acquire(ctx, client, "dev", Options{Holder: "next", Namespace: ns, Wait: 10 * time.Second,
		OnWait: func(holder string, _ time.Time) { told = holder }})
	if err != nil {
		t.Fatalf("Acquire of an abandoned lock: %v", err)
	}
	defer h.Release(ctx)
	elapsed := time.Since(start)
	if elapsed < 2*time.Second || elapsed > 4*time.Second {
		t.Errorf("took the abandoned lock after %v, want after its 2s duration and soon after", elapsed)
	}
	if told != holder {
		t.Errorf("OnWait told %q, want %q", told, holder)
	}
}

func TestLostWhenTakenAway(t *testing.T) {
	env := testenv.Get(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	client := env.Clientset()

	h, err := Acquire(ctx, client, "dev", Options{Holder: "mine", Namespace: ns, Duration: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Release(ctx)
	l, err := getIn(ctx, env, ns, "dev")
	if err != nil {
		t.Fatal(err)
	}
	thief := "thief"
	l.Spec.HolderIdentity = &thief
	if _, err := client.CoordinationV1().Leases(ns).Update(ctx, l, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.Lost():
	case <-time.After(3 * time.Second):
		t.Fatal("Lost did not close within a lease duration of the lock being taken")
	}
	if err := h.Err(); err == nil || !strings.Contains(err.Error(), "taken by thief") {
		t.Errorf("Err = %v, want it to name the new holder", err)
	}
	lost := h.LostError()
	if want := "lost the lock of environment dev: the lock of environment dev was taken by thief"; lost == nil || lost.Error() != want {
		t.Errorf("LostError = %v, want %q", lost, want)
	}
	if kind := errs.KindOf(lost); kind != errs.KindCluster {
		t.Errorf("LostError is a %v error, want cluster (exit 6)", kind)
	}
	// A lost lock is not released from under its new holder.
	if err := h.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if l, err := getIn(ctx, env, ns, "dev"); err != nil || holderOf(l) != thief {
		t.Errorf("holder after Release of a lost lock = %q (%v), want thief", holderOf(l), err)
	}
}

func TestHeldErrorMessage(t *testing.T) {
	since := time.Date(2026, 3, 1, 12, 0, 3, 0, time.Local)
	tests := []struct {
		err  HeldError
		want string
	}{
		{HeldError{Environment: "ci", Holder: "envctl sync (pid 7 on x)", Since: since},
			"environment ci is being written by envctl sync (pid 7 on x) since 2026-03-01 12:00:03; wait for it to finish, stop it, or raise --lock-timeout"},
		{HeldError{Environment: "ci", Holder: "h", Waited: 2*time.Minute + 300*time.Millisecond},
			"environment ci is being written by h (waited 2m0s); wait for it to finish, stop it, or raise --lock-timeout"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q\nwant      %q", got, tt.want)
		}
	}
}

func TestIdentityNamesCommandAndProcess(t *testing.T) {
	id := Identity("sync")
	if !strings.HasPrefix(id, "envctl sync (pid ") || !strings.Contains(id, " on ") {
		t.Errorf("Identity = %q", id)
	}
	// Containers share pids (1) and may share host names: two identities
	// made alike still differ.
	if other := Identity("sync"); other == id {
		t.Errorf("two identities of one process are both %q", id)
	}
}

func getIn(ctx context.Context, env *testenv.Env, ns, name string) (*coordinationv1.Lease, error) {
	return env.Clientset().CoordinationV1().Leases(ns).Get(ctx, Name(name), metav1.GetOptions{})
}

// A lock waited for in envctl-system while `daemon install` moves the
// environment's state to its own namespace is taken there, where the
// daemon and every later command look for it.
func TestAcquireFollowsMovedState(t *testing.T) {
	env := testenv.Get(t)
	ctx := context.Background()
	client := env.Clientset()
	name := "lease-moved"
	own := inventory.EnvNamespace(name)
	t.Cleanup(func() {
		_ = client.CoordinationV1().Leases(Namespace).Delete(ctx, Name(name), metav1.DeleteOptions{})
		_ = client.CoreV1().Namespaces().Delete(ctx, own, metav1.DeleteOptions{})
	})
	old, err := Acquire(ctx, client, name, Options{Holder: "earlier envctl", Namespace: Namespace})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *Held, 1)
	go func() {
		held, err := Acquire(ctx, client, name, Options{Holder: "waiting", Wait: 30 * time.Second})
		if err != nil {
			t.Error(err)
		}
		got <- held
	}()
	time.Sleep(300 * time.Millisecond)
	// The move: the namespace, marked, then the old lock released.
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: own, Labels: map[string]string{inventory.LabelStateOf: name}}}
	if _, err := client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := old.Release(ctx); err != nil {
		t.Fatal(err)
	}
	held := <-got
	if held == nil {
		t.FailNow()
	}
	defer func() { _ = held.Release(ctx) }()
	l, err := client.CoordinationV1().Leases(own).Get(ctx, Name(name), metav1.GetOptions{})
	if err != nil || holderOf(l) != "waiting" {
		t.Fatalf("Lease in %s: %v, %v; want it held by the waiting command", own, l, err)
	}
	if l, err := client.CoordinationV1().Leases(Namespace).Get(ctx, Name(name), metav1.GetOptions{}); err == nil && holderOf(l) != "" {
		t.Errorf("the Lease in %s is still held by %s", Namespace, holderOf(l))
	}
	info, err := Get(ctx, client, name)
	if err != nil || info == nil || info.Holder != "waiting" {
		t.Errorf("Get = %+v, %v; want the lock in %s", info, err, own)
	}
}
