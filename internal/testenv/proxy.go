package testenv

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

// Proxy is a plain-HTTP proxy on loopback in front of the test cluster's
// API server, for tests that count what an envctl process sent the
// cluster: every request it passes on is recorded, with when it was passed
// on and the status of the answer. It authenticates to the API server as
// cluster-admin; its clients need no credentials. Freeze holds every new
// request and every answer in flight (watch events included) until Thaw,
// so that a test can change the cluster while a process cannot see it.
type Proxy struct {
	// URL is the proxy's address, http://127.0.0.1:PORT.
	URL string

	mu   sync.Mutex
	open chan struct{} // closed while requests and answers flow
	reqs []ProxiedRequest
}

// ProxiedRequest is one request the proxy passed on.
type ProxiedRequest struct {
	Method, Path string
	// At is when the proxy passed the request on to the API server.
	At time.Time
	// Status is the answer's HTTP status; 0 until it is known.
	Status int
}

// Write says whether the request could change the cluster.
func (r ProxiedRequest) Write() bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

func (r ProxiedRequest) String() string {
	return fmt.Sprintf("%s %s (%d at %s)", r.Method, r.Path, r.Status, r.At.Format("15:04:05.000"))
}

// Proxy starts a proxy in front of e's API server, stopped when t ends.
func (e *Env) Proxy(t testing.TB) *Proxy {
	t.Helper()
	upstream, err := url.Parse(e.cfg.Host)
	if err != nil {
		t.Fatalf("testenv: API server address %q: %v", e.cfg.Host, err)
	}
	transport, err := rest.TransportFor(e.RESTConfig())
	if err != nil {
		t.Fatalf("testenv: transport: %v", err)
	}
	p := &Proxy{open: make(chan struct{})}
	close(p.open)
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(upstream)
			r.Out.Host = upstream.Host
		},
		Transport:     transport,
		FlushInterval: -1, // watch events go out as they come
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.wait()
		i := p.record(r)
		gw := &gatedWriter{ResponseWriter: w, p: p, i: i}
		rp.ServeHTTP(gw, r)
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

// Kubeconfig writes a kubeconfig that reaches the cluster through the
// proxy, context "envctl-test", and returns its path.
func (p *Proxy) Kubeconfig(t testing.TB) string {
	t.Helper()
	data := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: proxy
  cluster: {server: %q}
users:
- name: proxy
  user: {}
contexts:
- name: envctl-test
  context: {cluster: proxy, user: proxy}
current-context: envctl-test
`, p.URL)
	path := filepath.Join(t.TempDir(), "proxy.kubeconfig")
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatalf("testenv: write kubeconfig: %v", err)
	}
	return path
}

// Requests returns what the proxy passed on so far, in order.
func (p *Proxy) Requests() []ProxiedRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]ProxiedRequest(nil), p.reqs...)
}

// WritesAround splits the write requests the proxy passed on at the
// moment lost: those before it, and those after it, less the refused
// renewals of the Lease at lockPath (a renewal the new holder's update
// made fail changed nothing).
func (p *Proxy) WritesAround(lost time.Time, lockPath string) (before, after []string) {
	for _, r := range p.Requests() {
		if !r.Write() {
			continue
		}
		switch {
		case r.At.Before(lost):
			before = append(before, r.String())
		case r.Path == lockPath && r.Status == http.StatusConflict:
		default:
			after = append(after, r.String())
		}
	}
	return before, after
}

// Freeze holds new requests and the answers in flight until Thaw.
func (p *Proxy) Freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.open:
		p.open = make(chan struct{})
	default:
	}
}

// Thaw lets what Freeze held go on.
func (p *Proxy) Thaw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.open:
	default:
		close(p.open)
	}
}

func (p *Proxy) wait() {
	p.mu.Lock()
	open := p.open
	p.mu.Unlock()
	<-open
}

func (p *Proxy) record(r *http.Request) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reqs = append(p.reqs, ProxiedRequest{Method: r.Method, Path: r.URL.Path, At: time.Now()})
	return len(p.reqs) - 1
}

func (p *Proxy) setStatus(i, status int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reqs[i].Status = status
}

// gatedWriter is a ResponseWriter whose output waits while the proxy is
// frozen.
type gatedWriter struct {
	http.ResponseWriter
	p    *Proxy
	i    int
	once sync.Once
}

func (g *gatedWriter) WriteHeader(code int) {
	g.p.wait()
	g.once.Do(func() { g.p.setStatus(g.i, code) })
	g.ResponseWriter.WriteHeader(code)
}

func (g *gatedWriter) Write(b []byte) (int, error) {
	g.p.wait()
	g.once.Do(func() { g.p.setStatus(g.i, http.StatusOK) })
	return g.ResponseWriter.Write(b)
}

func (g *gatedWriter) Flush() {
	g.p.wait()
	if f, ok := g.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (g *gatedWriter) Unwrap() http.ResponseWriter { return g.ResponseWriter }
