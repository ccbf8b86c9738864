package kube

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The retry policy against a loopback server that misbehaves on the first
// attempts: what is sent again, and what is reported instead.
func TestRetryPolicy(t *testing.T) {
	defer func(d time.Duration) { RetryBaseDelay = d }(RetryBaseDelay)
	RetryBaseDelay = time.Millisecond

	const applyType = "application/apply-patch+yaml"
	// Faults: what the server does on an attempt that fails.
	status := func(code int) func(http.ResponseWriter) {
		return func(w http.ResponseWriter) {
			// As the API server answers when it sheds load or shuts down.
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(code)
		}
	}
	cut := func(w http.ResponseWriter) {
		// Headers and half a body, then the connection goes, as when the
		// API server is killed while it answers.
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			panic(err)
		}
		buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"kind\":")
		buf.Flush()
		conn.Close()
	}
	tests := []struct {
		name          string
		method, ctype string
		fault         func(http.ResponseWriter)
		failures      int // attempts that meet the fault
		wantAttempts  int32
		wantOK        bool
	}{
		{"429 on a create is sent again", http.MethodPost, "application/json", status(http.StatusTooManyRequests), 2, 3, true},
		{"503 on an apply patch is sent again", http.MethodPatch, applyType, status(http.StatusServiceUnavailable), 2, 3, true},
		{"500 on a read is sent again", http.MethodGet, "", status(http.StatusInternalServerError), 1, 2, true},
		{"503 on a create is reported, not repeated", http.MethodPost, "application/json", status(http.StatusServiceUnavailable), 1, 1, false},
		{"503 on a merge patch is reported", http.MethodPatch, "application/merge-patch+json", status(http.StatusServiceUnavailable), 1, 1, false},
		{"an answer cut off on an apply patch is sent again", http.MethodPatch, applyType, cut, 1, 2, true},
		{"an answer cut off on a read is sent again", http.MethodGet, "", cut, 2, 3, true},
		{"an answer cut off on a create is reported", http.MethodPost, "application/json", cut, 1, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var attempts atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := attempts.Add(1)
				if _, err := io.ReadAll(r.Body); err != nil {
					t.Errorf("attempt %d: reading the body: %v", n, err)
				}
				if int(n) <= tt.failures {
					tt.fault(w)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, `{"kind":"ConfigMap"}`)
			}))
			defer srv.Close()
			client := &http.Client{Transport: withRetry(srv.Client().Transport)}
			req, err := http.NewRequest(tt.method, srv.URL+"/api/v1/namespaces/a/configmaps/b", strings.NewReader(`{"data":{}}`))
			if err != nil {
				t.Fatal(err)
			}
			if tt.ctype != "" {
				req.Header.Set("Content-Type", tt.ctype)
			}
			resp, err := client.Do(req)
			var body []byte
			if err == nil {
				body, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			ok := err == nil && resp.StatusCode == http.StatusOK && string(body) == `{"kind":"ConfigMap"}`
			if ok != tt.wantOK {
				t.Errorf("succeeded %v, want %v (err %v, body %q)", ok, tt.wantOK, err, body)
			}
			if err == nil && resp.Header.Get("Retry-After") != "" {
				// client-go would send it again, up to ten times more.
				t.Errorf("the answer handed back keeps Retry-After %q", resp.Header.Get("Retry-After"))
			}
			if got := attempts.Load(); got != tt.wantAttempts {
				t.Errorf("%d attempts, want %d", got, tt.wantAttempts)
			}
		})
	}
}
