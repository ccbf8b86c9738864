package engine

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/kube"
)

// fault is one kind of trouble injected into matching requests.
type fault struct {
	match func(*http.Request) bool
	// status is the HTTP status answered; 0 with hang set answers nothing
	// for that long; 0 without it refuses the connection.
	status int
	hang   time.Duration
	// times is how many requests get it; -1 for all.
	times int
}

// faults is a round-tripper that injects a fault into the requests that
// match it, below envctl's retry policy, as a flaky API server would.
type faults struct {
	next  http.RoundTripper
	fault fault
	mu    sync.Mutex
	hits  int
}

func (f *faults) RoundTrip(req *http.Request) (*http.Response, error) {
	f.mu.Lock()
	inject := f.fault.match(req) && (f.fault.times < 0 || f.hits < f.fault.times)
	if inject {
		f.hits++
	}
	f.mu.Unlock()
	if !inject {
		return f.next.RoundTrip(req)
	}
	switch {
	case f.fault.status != 0:
		body := fmt.Sprintf(`{"kind":"Status","apiVersion":"v1","status":"Failure","message":"injected %d","code":%d}`, f.fault.status, f.fault.status)
		return &http.Response{
			StatusCode: f.fault.status,
			Header:     http.Header{"Content-Type": []string{"application/json"}, "Retry-After": []string{"0"}},
			Body:       ioNopCloser(body),
			Request:    req,
		}, nil
	case f.fault.hang > 0:
		select {
		case <-req.Context().Done():
			return nil, req.Context().Err()
		case <-time.After(f.fault.hang):
			return f.next.RoundTrip(req)
		}
	default:
		return nil, &netOpError{err: syscall.ECONNREFUSED}
	}
}

func method(m string, pathPart string) func(*http.Request) bool {
	return func(r *http.Request) bool {
		return r.Method == m && strings.Contains(r.URL.Path, pathPart)
	}
}

// API errors and timeouts injected into the client: retried with backoff
// where sending again is safe, and the run converges; reported clearly,
// naming what failed, where it is not.
func TestMatrixInjectedAPIFaults(t *testing.T) {
	defer func(budget, attempt time.Duration) { kube.RetryBudget, kube.AttemptTimeout = budget, attempt }(kube.RetryBudget, kube.AttemptTimeout)
	kube.RetryBudget = 5 * time.Second
	tests := []struct {
		name  string
		fault fault
		// attempt, when set, bounds each attempt instead of the default.
		attempt time.Duration
		// fails says the run must fail with an error of kind and saying
		// want; otherwise it must succeed, the fault having been retried.
		fails bool
		kind  errs.Kind
		want  []string
	}{
		{name: "429 on applies", fault: fault{match: method(http.MethodPatch, "/configmaps/"), status: 429, times: 3}},
		{name: "503 on reads", fault: fault{match: method(http.MethodGet, "/configmaps"), status: 503, times: 2}},
		{name: "500 on an apply", fault: fault{match: method(http.MethodPatch, "/configmaps/"), status: 500, times: 1}},
		{name: "an apply that hangs", fault: fault{match: method(http.MethodPatch, "/configmaps/"), hang: 4 * time.Second, times: 1}, attempt: time.Second},
		{name: "connection refused", fault: fault{match: method(http.MethodGet, "/"), times: 3}},
		{
			name:  "a create that fails is not repeated",
			fault: fault{match: method(http.MethodPost, "/configmaps"), status: 500, times: -1},
			fails: true, kind: errs.KindCluster, want: []string{"inventory", "envctl-inventory-"},
		},
		{
			name:  "an apply the server keeps refusing",
			fault: fault{match: method(http.MethodPatch, "/configmaps/"), status: 503, times: -1},
			fails: true, kind: errs.KindCluster, want: []string{"ConfigMap", "injected 503"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kube.AttemptTimeout = 60 * time.Second
			if tt.attempt > 0 {
				kube.AttemptTimeout = tt.attempt
			}
			clean := newFixture(t)
			cfg := testConfig(t)
			inj := &faults{fault: tt.fault}
			cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { inj.next = rt; return inj })
			cfg, counter := kube.CountingConfig(cfg)
			client, err := kube.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			f := &fixture{t: t, name: clean.name, ns: clean.ns, client: client, counter: counter}
			f.component("app", nil, configMap("a", "1"), configMap("b", "1"),
				`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s","namespace":"NS"},"stringData":{"k":"v"}}`)
			start := time.Now()
			_, err, _ = f.reconcile()
			took := time.Since(start)
			t.Logf("run with %s: %v after %v; %d injected", tt.name, err, took.Round(time.Millisecond), inj.hits)
			if inj.hits == 0 {
				t.Fatal("no fault was injected; the test proves nothing")
			}
			if !tt.fails {
				if err != nil {
					t.Fatalf("a retryable fault failed the run: %v", err)
				}
			} else {
				if err == nil {
					t.Fatal("the run succeeded")
				}
				if k := errs.KindOf(err); k != tt.kind {
					t.Errorf("error kind %v, want %v", k, tt.kind)
				}
				for _, w := range tt.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error does not say %q: %v", w, err)
					}
				}
				if strings.HasPrefix(tt.name, "a create") && inj.hits != 1 {
					t.Errorf("a create was sent %d times, want once", inj.hits)
				}
				if took > 2*kube.RetryBudget+10*time.Second {
					t.Errorf("took %v to give up", took)
				}
			}
			// The next run on a sound connection converges, and the one
			// after it writes nothing.
			clean.comps = f.comps
			if _, err, _ := clean.reconcile(); err != nil {
				t.Fatalf("the next healthy run: %v", err)
			}
			_, err, reqs := clean.reconcile()
			if err != nil || reqs.Writes != 0 {
				t.Errorf("the run after it: %v, %d writes %v", err, reqs.Writes, reqs.WritePaths)
			}
		})
	}
}

type netOpError struct{ err error }

func (e *netOpError) Error() string { return "dial tcp 127.0.0.1:6443: connect: " + e.err.Error() }
func (e *netOpError) Unwrap() error { return e.err }

func ioNopCloser(s string) io.ReadCloser { return io.NopCloser(strings.NewReader(s)) }
