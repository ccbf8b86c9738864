package gittest

import (
	"crypto/subtle"
	"encoding/pem"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// HTTPOptions configure an HTTPServer.
type HTTPOptions struct {
	// TLS serves https with a certificate of a test CA (CAFile).
	TLS bool
	// User and Password, when set, are required through basic auth.
	User, Password string
}

// HTTPServer serves the bare repositories under a root with `git
// http-backend`, the CGI program behind most self-hosted Git servers.
type HTTPServer struct {
	// URL is the base URL; a repository is URL + "/" + its name.
	URL string
	// CAFile is a PEM file of the CA that signed the server's
	// certificate (with TLS).
	CAFile string

	mu       sync.Mutex
	requests []string
}

// NewHTTPServer starts a server over root, stopped when t ends.
func NewHTTPServer(t testing.TB, root string, opts HTTPOptions) *HTTPServer {
	t.Helper()
	NeedGit(t)
	execPath := Git(t, root, "--exec-path")
	backend := &cgi.Handler{
		Path: filepath.Join(execPath, "git-http-backend"),
		Env: []string{
			"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1",
			"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		},
	}
	s := &HTTPServer{}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests = append(s.requests, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery)
		s.mu.Unlock()
		if opts.User != "" {
			user, pass, ok := r.BasicAuth()
			if !ok || subtle.ConstantTimeCompare([]byte(user), []byte(opts.User)) != 1 ||
				subtle.ConstantTimeCompare([]byte(pass), []byte(opts.Password)) != 1 {
				w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
				http.Error(w, "authentication required", http.StatusUnauthorized)
				return
			}
		}
		backend.ServeHTTP(w, r)
	})
	srv := httptest.NewUnstartedServer(handler)
	if opts.TLS {
		srv.StartTLS()
		s.CAFile = filepath.Join(t.TempDir(), "ca.pem")
		block := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
		if err := os.WriteFile(s.CAFile, block, 0o600); err != nil {
			t.Fatal(err)
		}
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// Requests returns the requests served so far ("GET /x.git/info/refs?...")
// and forgets them.
func (s *HTTPServer) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.requests
	s.requests = nil
	return out
}

// Fetches counts the pack requests (POST .../git-upload-pack) among reqs.
func Fetches(reqs []string) int {
	n := 0
	for _, r := range reqs {
		if strings.HasPrefix(r, "POST ") && strings.Contains(r, "git-upload-pack") {
			n++
		}
	}
	return n
}
