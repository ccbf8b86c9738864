package e2e

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/envctl/envctl/internal/webhook"
)

// testTLS writes a CA and a server certificate for 127.0.0.1 signed by it,
// and returns the certificate and key files and a pool trusting the CA.
func testTLS(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "envctl test CA"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "envctl webhook"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(ca)
	return certFile, keyFile, pool
}

// request sends method path to base (http://addr or https://addr) and
// returns the status and body.
func request(c *http.Client, method, base, path string, body []byte, headers map[string]string) (int, string, error) {
	req, err := http.NewRequest(method, base+path, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// TestDaemonListenersEachServeTheirOwnPaths runs `envctl daemon` with the
// three listeners on their own addresses, the webhook over https with a
// certificate of a test CA: each address answers its own paths and 404 to
// the others'; the webhook refuses plain http and a client that does not
// trust the CA, accepts a signed delivery over https (its push gets
// applied), and ignores the same signed payload sent again under a new
// delivery id, without a ref listing.
func TestDaemonListenersEachServeTheirOwnPaths(t *testing.T) {
	g := newGitRepo(t)
	g.configMaps("a", "one")
	first := "main@sha1:" + g.git.Commit("first")
	certFile, keyFile, pool := testTLS(t)
	metricsAddr, healthAddr, hookAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	p := g.startGit("daemon", g.env, "--kubeconfig", g.kubeconfig, "--interval", "1h", "--log-format", "text",
		"--metrics-addr", metricsAddr, "--health-addr", healthAddr, "--webhook-addr", hookAddr,
		"--webhook-tls-cert", certFile, "--webhook-tls-key", keyFile)
	g.applied(p, first, "one", 90*time.Second)

	plain := &http.Client{Timeout: 5 * time.Second}
	trusting := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	hookURL := "https://" + hookAddr
	body := []byte(`{"ref":"refs/heads/main","after":"1111111111111111111111111111111111111111"}`)
	signed := func(delivery string) map[string]string {
		return map[string]string{webhook.HeaderGitHub: webhook.Sign(body, []byte(hookSecret)), "X-GitHub-Delivery": delivery, "X-GitHub-Event": "push"}
	}

	eventually(t, 30*time.Second, "/readyz on the health address", func() error {
		if code, text, err := get(healthAddr, "/readyz"); err != nil || code != 200 {
			return fmt.Errorf("/readyz: %d %q %v", code, text, err)
		}
		return nil
	})
	// Each listener: its own paths, and 404 for the others'.
	for _, c := range []struct {
		client       *http.Client
		base, method string
		path         string
		want         int
	}{
		{plain, "http://" + metricsAddr, "GET", "/metrics", 200},
		{plain, "http://" + metricsAddr, "GET", "/healthz", 404},
		{plain, "http://" + metricsAddr, "GET", "/readyz", 404},
		{plain, "http://" + metricsAddr, "POST", "/hooks/git", 404},
		{plain, "http://" + healthAddr, "GET", "/healthz", 200},
		{plain, "http://" + healthAddr, "GET", "/readyz", 200},
		{plain, "http://" + healthAddr, "GET", "/metrics", 404},
		{plain, "http://" + healthAddr, "POST", "/hooks/git", 404},
		{trusting, hookURL, "GET", "/metrics", 404},
		{trusting, hookURL, "GET", "/healthz", 404},
		{trusting, hookURL, "GET", "/readyz", 404},
	} {
		code, _, err := request(c.client, c.method, c.base, c.path, nil, nil)
		if err != nil || code != c.want {
			t.Errorf("%s %s%s: HTTP %d, %v; want %d", c.method, c.base, c.path, code, err, c.want)
		}
	}
	if code, text, err := request(plain, "GET", "http://"+metricsAddr, "/metrics", nil, nil); err != nil || code != 200 || !strings.Contains(text, "envctl_") {
		t.Errorf("/metrics: HTTP %d, %v: no envctl_ series", code, err)
	}

	// The webhook speaks https only, with the certificate of the test CA.
	if code, _, err := request(plain, "POST", "http://"+hookAddr, "/hooks/git", body, signed("plain")); err == nil && code != http.StatusBadRequest {
		t.Errorf("plain http to the TLS webhook: HTTP %d, want a refusal", code)
	}
	_, _, err := request(plain, "POST", hookURL, "/hooks/git", body, signed("untrusted"))
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Errorf("a client without the test CA: %v, want an unknown authority error", err)
	}

	// A signed delivery over https: accepted, and its push applied.
	g.configMaps("a", "two")
	second := "main@sha1:" + g.git.Commit("second")
	g.listings()
	if code, resp, err := request(trusting, "POST", hookURL, "/hooks/git", body, signed("d-1")); err != nil || code != http.StatusAccepted {
		t.Fatalf("signed delivery over https: HTTP %d %q, %v; want 202", code, resp, err)
	}
	g.applied(p, second, "two", 30*time.Second)

	// The same signed payload, its unsigned delivery id changed: ignored.
	g.configMaps("a", "three")
	g.git.Commit("third")
	g.listings()
	if code, resp, err := request(trusting, "POST", hookURL, "/hooks/git", body, signed("d-1-changed")); err != nil || code != http.StatusOK || !strings.Contains(resp, "already") {
		t.Errorf("replayed payload under a new delivery id: HTTP %d %q, %v; want 200 already received", code, resp, err)
	}
	g.quiet("after a replayed payload", "two")
	_, text, err := request(plain, "GET", "http://"+metricsAddr, "/metrics", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for sample, want := range map[string]int{
		`envctl_webhook_requests_total{result="accepted"}`: 1,
		`envctl_webhook_requests_total{result="replayed"}`: 1,
	} {
		if got := metricValue(text, sample); got != want {
			t.Errorf("%s = %d, want %d", sample, got, want)
		}
	}
}

// TestDaemonListensOnLoopbackOffTheCluster runs `envctl daemon` outside a
// pod without a listener flag: the probes, metrics and webhook answer on
// 127.0.0.1 at Flux's ports, and not on every interface.
// It uses the fixed default ports, so it fails if another process holds
// one of them.
func TestDaemonListensOnLoopbackOffTheCluster(t *testing.T) {
	r := newRepo(t)
	r.configMaps("a", "one")
	p := r.start("daemon", r.env, "--kubeconfig", r.kubeconfig, "--log-format", "text")
	eventually(t, 90*time.Second, "the daemon's probes on 127.0.0.1:9440", func() error {
		if p.exited() {
			t.Fatalf("the daemon exited %d: %s", p.code, p.err)
		}
		code, _, err := get("127.0.0.1:9440", "/healthz")
		if err != nil || code != 200 {
			return fmt.Errorf("/healthz: %d %v", code, err)
		}
		return nil
	})
	if code, _, err := get("127.0.0.1:8080", "/metrics"); err != nil || code != 200 {
		t.Errorf("/metrics on 127.0.0.1:8080: %d %v", code, err)
	}
	if code, _, err := get("127.0.0.1:9292", "/hooks/git"); err != nil || code != http.StatusMethodNotAllowed {
		t.Errorf("GET /hooks/git on 127.0.0.1:9292: %d %v, want 405 (POST only)", code, err)
	}
	// A listener on every interface answers on 127.0.0.2 too; one on
	// 127.0.0.1 does not. The dial stays on loopback, as tests must.
	for _, port := range []string{"8080", "9440", "9292"} {
		addr := net.JoinHostPort("127.0.0.2", port)
		if c, err := net.DialTimeout("tcp", addr, 2*time.Second); err == nil {
			c.Close()
			t.Errorf("the daemon answers on %s: off the cluster it must listen on 127.0.0.1 only", addr)
		}
	}
	for _, want := range []string{"127.0.0.1:8080", "127.0.0.1:9440", "127.0.0.1:9292"} {
		if !strings.Contains(p.err.String(), "address="+want) {
			t.Errorf("the daemon's log does not say it serves on %s:\n%s", want, p.err)
		}
	}
}

// Listener flags that cannot work stop the daemon with exit 2, naming the
// flags, before it takes the environment's lock.
func TestDaemonRefusesUnusableListenerFlags(t *testing.T) {
	r := newRepo(t)
	r.configMaps("a", "one")
	missing := filepath.Join(t.TempDir(), "missing.crt")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--webhook-addr", freeAddr(t), "--webhook-tls-cert", missing}, "--webhook-tls-cert and --webhook-tls-key go together"},
		{[]string{"--webhook-addr", freeAddr(t), "--webhook-tls-cert", missing, "--webhook-tls-key", missing}, "--webhook-tls-cert " + missing},
		{[]string{"--listen", freeAddr(t), "--metrics-addr", freeAddr(t)}, "not both"},
	} {
		args := append([]string{"daemon", r.env, "--kubeconfig", r.kubeconfig, "--log-format", "text"}, tt.args...)
		code, _, stderr := r.run(args...)
		if code != 2 || !strings.Contains(stderr, tt.want) {
			t.Errorf("envctl %s: exit %d, want 2 and an error saying %q:\n%s", strings.Join(tt.args, " "), code, tt.want, stderr)
		}
	}
	if l := r.lock(); l != nil && l.Holder != "" {
		t.Errorf("a daemon refused for its flags took the lock: %+v", l)
	}
}
