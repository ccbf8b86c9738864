package syncstate

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/lease"
)

const holder = "envctl sync (pid 7 on laptop)"

// record is env's ConfigMap holding st.
func record(t *testing.T, env string, st Status) *corev1.ConfigMap {
	t.Helper()
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: Namespace, Name: ConfigMapName(env)},
		Data:       map[string]string{dataKey: string(b)},
	}
}

// lock is env's Lease, held by who and renewed renewed ago.
func lock(env, who string, renewed time.Duration) *coordinationv1.Lease {
	secs := int32(15)
	at := metav1.NewMicroTime(time.Now().Add(-renewed))
	return &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: lease.Namespace, Name: lease.Name(env)},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &who, LeaseDurationSeconds: &secs, AcquireTime: &at, RenewTime: &at},
	}
}

func TestReadReport(t *testing.T) {
	ctx := t.Context()
	for _, tt := range []struct {
		name    string
		objects []runtime.Object
		want    *bool // Alive; nil: no report
	}{
		{name: "no sync ever ran"},
		{name: "running and holding the lock", objects: []runtime.Object{record(t, "dev", Status{Environment: "dev", Holder: holder, Running: true}), lock("dev", holder, time.Second)}, want: ptr(true)},
		{name: "killed: its lock expired", objects: []runtime.Object{record(t, "dev", Status{Environment: "dev", Holder: holder, Running: true}), lock("dev", holder, time.Minute)}, want: ptr(false)},
		{name: "another writer holds the lock", objects: []runtime.Object{record(t, "dev", Status{Environment: "dev", Holder: holder, Running: true}), lock("dev", "envctl up (pid 9 on ci)", time.Second)}, want: ptr(false)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ReadReport(ctx, fake.NewSimpleClientset(tt.objects...), "dev")
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tt.want == nil && r != nil:
				t.Errorf("report %+v, want none", r)
			case tt.want != nil && (r == nil || r.Alive != *tt.want):
				t.Errorf("report %+v, want Alive %v", r, *tt.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestControlRunning(t *testing.T) {
	ctx := t.Context()
	client := fake.NewSimpleClientset(record(t, "dev", Status{Environment: "dev", Holder: holder, Running: true, Suspended: true}), lock("dev", holder, time.Second))
	c, err := NewControl(ctx, client, "dev")
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Running(ctx)
	if err != nil || st == nil || st.Holder != holder {
		t.Fatalf("Running = %+v, %v; want the sync's status", st, err)
	}
	// A suspended loop is asked nothing.
	if _, err := c.Reconcile(ctx, time.Second, func(string) { t.Error("asked a suspended loop") }); errs.KindOf(err) != errs.KindInput {
		t.Errorf("Reconcile of a suspended loop: %v, want bad input", err)
	}

	// Without a lock holder, no loop runs.
	c, err = NewControl(ctx, fake.NewSimpleClientset(record(t, "dev", Status{Environment: "dev", Holder: holder, Running: true})), "dev")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Reconcile(ctx, time.Second, func(string) {}); errs.KindOf(err) != errs.KindInput {
		t.Errorf("Reconcile with no loop: %v, want bad input", err)
	}
}

func TestWaitTimesOut(t *testing.T) {
	c := &Control{Store: &Store{Client: fake.NewSimpleClientset()}, Env: "dev"}
	_, err := c.Wait(t.Context(), 300*time.Millisecond, func(*Status) bool { return true })
	if errs.KindOf(err) != errs.KindTimeout {
		t.Errorf("Wait = %v, want a timeout", err)
	}
}

func TestAnswerErr(t *testing.T) {
	if err := (&Answer{Succeeded: true}).Err("dev"); err != nil {
		t.Errorf("a success: %v", err)
	}
	err := (&Answer{Error: "component web: timed out", ErrorKind: errs.KindTimeout.String()}).Err("dev")
	if errs.KindOf(err) != errs.KindTimeout || err.Error() != "reconcile of environment dev failed: component web: timed out" {
		t.Errorf("a timeout: %v (kind %v)", err, errs.KindOf(err))
	}
	if err := (&Answer{ErrorKind: "something new"}).Err("dev"); errs.KindOf(err) != errs.KindUnknown || errors.Unwrap(err) == nil {
		t.Errorf("an unknown kind: %v", err)
	}
}
