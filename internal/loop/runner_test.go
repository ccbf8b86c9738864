package loop

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/lease"
)

// A sync whose lock is taken from it stops with the error a one-shot
// command stops with in that case: "lost the lock", a cluster error (exit
// 6). A daemon (Standby) goes back to waiting instead.
func TestSyncStopsWithAClusterErrorWhenItsLockIsLost(t *testing.T) {
	for _, standby := range []bool{false, true} {
		name := "sync"
		if standby {
			name = "daemon"
		}
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			f.overlay(configMap("a", "one"))
			r := &Runner{Loop: f.options(), Lease: lease.Options{Namespace: f.ns, Duration: 2 * time.Second}, Standby: standby}
			if standby {
				r.Lease.Wait = lease.Forever // as envctl daemon waits
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- r.Run(ctx) }()
			eventually(t, 60*time.Second, "the loop to lead and converge", func() error {
				if err := wantValue(f, "a", "one")(); err != nil {
					return err
				}
				if l := r.Current(); l == nil || !l.Ready() {
					return fmt.Errorf("not leading, or the first reconcile is not done")
				}
				return nil
			})

			leases := f.te.Clientset().CoordinationV1().Leases(f.ns)
			l, err := leases.Get(ctx, lease.Name(f.env), metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			thief := "another envctl"
			l.Spec.HolderIdentity = &thief
			if _, err := leases.Update(ctx, l, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}

			if standby {
				// The thief never renews: its Lease expires after 2 s and the
				// daemon leads again.
				eventually(t, 15*time.Second, "the daemon to lead again", func() error {
					select {
					case err := <-done:
						t.Fatalf("the daemon's runner returned (%v) when its lock was taken; it should wait to lead again", err)
					default:
					}
					l, err := leases.Get(ctx, lease.Name(f.env), metav1.GetOptions{})
					if err != nil {
						return err
					}
					if holder := l.Spec.HolderIdentity; holder == nil || *holder != f.options().Holder {
						return fmt.Errorf("the lock is held by %v", holder)
					}
					if ok, why := r.Ready(); !ok {
						return fmt.Errorf("not ready: %s", why)
					}
					return nil
				})
				cancel()
				select {
				case err := <-done:
					if err != nil {
						t.Errorf("the daemon's runner stopped with %v, want nil", err)
					}
				case <-time.After(15 * time.Second):
					t.Fatal("the daemon's runner did not stop within 15 s of its context")
				}
				return
			}
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), "lost the lock of environment "+f.env) {
					t.Fatalf("Run = %v, want it to say it lost the lock", err)
				}
				if kind := errs.KindOf(err); kind != errs.KindCluster {
					t.Errorf("a lost lock is a %v error, want cluster (exit 6), as in one-shot commands", kind)
				}
			case <-time.After(15 * time.Second):
				t.Fatal("the sync did not stop within 15 s of its lock being taken")
			}
		})
	}
}
