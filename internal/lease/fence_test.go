package lease

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/envctl/envctl/internal/kube"
	"github.com/envctl/envctl/internal/testenv"
)

// A lock taken by another holder is noticed from the Lease's watch, long
// before the next renewal would notice it.
func TestTakenLockIsNoticedBeforeTheNextRenewal(t *testing.T) {
	env := testenv.Get(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	client := env.Clientset()
	// Renewals every 20 s: a loss seen within 3 s was not seen by one.
	h, err := Acquire(ctx, client, "dev", Options{Holder: "mine", Namespace: ns, Duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Release(ctx)
	if err := h.Writable(); err != nil {
		t.Fatalf("Writable of a lock just taken: %v", err)
	}
	l, err := getIn(ctx, env, ns, "dev")
	if err != nil {
		t.Fatal(err)
	}
	thief := "thief"
	l.Spec.HolderIdentity = &thief
	if _, err := client.CoordinationV1().Leases(ns).Update(ctx, l, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	taken := time.Now()
	select {
	case <-h.Lost():
	case <-time.After(3 * time.Second):
		t.Fatal("the taken lock was not noticed within 3 s (renewals come every 20 s)")
	}
	t.Logf("noticed %v after it was taken", time.Since(taken).Round(time.Millisecond))
	if err := h.Writable(); err == nil || !strings.Contains(err.Error(), "taken by thief") {
		t.Errorf("Writable after the lock was taken = %v, want it to name the new holder", err)
	}
}

// The fence of a hold refuses, unsent, every write made with a context
// that carries it once the lock is released, and lets reads through; a
// context without it is not fenced.
func TestFenceRefusesWritesOnceTheLockIsGone(t *testing.T) {
	env := testenv.Get(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	cfg, counter := kube.CountingConfig(env.RESTConfig())
	client, err := kube.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h, err := Acquire(ctx, env.Clientset(), "dev", Options{Holder: "mine", Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	fenced := kube.WithFence(ctx, h.Writable)
	cms := client.Clientset.CoreV1().ConfigMaps(ns)
	create := func(ctx context.Context, name string) error {
		_, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
		return err
	}
	if err := create(fenced, "while-held"); err != nil {
		t.Fatalf("a write while the lock is held: %v", err)
	}
	if err := h.Release(ctx); err != nil {
		t.Fatal(err)
	}
	before := counter.Snapshot()
	// WithoutCancel keeps the fence, as the saves that outlive a run do.
	err = create(context.WithoutCancel(fenced), "after-release")
	var fe *kube.FencedError
	if !errors.As(err, &fe) {
		t.Fatalf("a write after the release = %v, want a FencedError", err)
	}
	if _, err := cms.Get(fenced, "while-held", metav1.GetOptions{}); err != nil {
		t.Errorf("a read after the release: %v", err)
	}
	if d := counter.Snapshot().Sub(before); d.Writes != 0 || d.Requests != 1 {
		t.Errorf("after the release: %d requests, %d writes (%v); want the read alone", d.Requests, d.Writes, d.WritePaths)
	}
	if err := create(ctx, "unfenced"); err != nil {
		t.Errorf("a write without the fence: %v", err)
	}
}

// A holder whose renewals do not get through stops trusting its hold two
// thirds of a duration after the last one that did, as the renewal loop
// gives the lock up then.
func TestFenceClosesWhenRenewalsDoNotGetThrough(t *testing.T) {
	env := testenv.Get(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	var block atomic.Bool
	cfg := env.RESTConfig()
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if block.Load() && strings.Contains(r.URL.Path, "/leases") {
				return nil, errors.New("injected: the API server is unreachable")
			}
			return rt.RoundTrip(r)
		})
	})
	client := kubernetes.NewForConfigOrDie(cfg)
	h, err := Acquire(ctx, client, "dev", Options{Holder: "mine", Namespace: ns, Duration: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Release(ctx)
	block.Store(true)
	start := time.Now()
	for h.Writable() == nil {
		if time.Since(start) > 5*time.Second {
			t.Fatal("still writable 5 s after renewals stopped getting through (duration 3 s)")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if took := time.Since(start); took > 2500*time.Millisecond {
		t.Errorf("writable for %v after renewals stopped, want at most 2 s (two thirds of 3 s)", took.Round(time.Millisecond))
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
