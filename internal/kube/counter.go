package kube

import (
	"net/http"
	"strings"
	"sync"

	"k8s.io/client-go/rest"
)

// Counter counts the HTTP requests made through a configuration returned by
// CountingConfig, by method. It is how tests and benchmarks prove that a
// reconcile with nothing to do makes no write request.
type Counter struct {
	mu       sync.Mutex
	byMethod map[string]int
	writes   []string
}

// CountingConfig returns a copy of cfg whose requests are counted by the
// returned Counter.
func CountingConfig(cfg *rest.Config) (*rest.Config, *Counter) {
	c := &Counter{byMethod: map[string]int{}}
	out := rest.CopyConfig(cfg)
	out.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return &countingTransport{next: rt, c: c}
	})
	return out, c
}

type countingTransport struct {
	next http.RoundTripper
	c    *Counter
}

func (t *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.c.record(req)
	return t.next.RoundTrip(req)
}

func (c *Counter) record(req *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.byMethod[req.Method]++
	if isWrite(req.Method) {
		// The path, not the body: it names the object without any of its data.
		c.writes = append(c.writes, req.Method+" "+req.URL.Path)
	}
}

func isWrite(method string) bool {
	switch strings.ToUpper(method) {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	default:
		return true
	}
}

// Snapshot is the counts at one moment.
type Snapshot struct {
	// Requests is every request; Writes those that could change state
	// (POST, PUT, PATCH, DELETE), dry-run included.
	Requests int
	Writes   int
	ByMethod map[string]int
	// WritePaths are the method and URL path of each write, in order, so a
	// failing test can say what was written.
	WritePaths []string
}

// Snapshot returns the counts so far.
func (c *Counter) Snapshot() Snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := Snapshot{ByMethod: make(map[string]int, len(c.byMethod)), WritePaths: append([]string(nil), c.writes...)}
	for m, n := range c.byMethod {
		s.ByMethod[m] = n
		s.Requests += n
		if isWrite(m) {
			s.Writes += n
		}
	}
	return s
}

// Reset sets every count to zero.
func (c *Counter) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.byMethod = map[string]int{}
	c.writes = nil
}

// Sub returns the requests made between an earlier snapshot prev and s.
func (s Snapshot) Sub(prev Snapshot) Snapshot {
	d := Snapshot{ByMethod: map[string]int{}}
	for m, n := range s.ByMethod {
		if v := n - prev.ByMethod[m]; v != 0 {
			d.ByMethod[m] = v
		}
	}
	d.Requests = s.Requests - prev.Requests
	d.Writes = s.Writes - prev.Writes
	if len(prev.WritePaths) <= len(s.WritePaths) {
		d.WritePaths = append([]string(nil), s.WritePaths[len(prev.WritePaths):]...)
	}
	return d
}
