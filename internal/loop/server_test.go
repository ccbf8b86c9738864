package loop

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/envctl/envctl/internal/errs"
)

func TestDefaultListeners(t *testing.T) {
	if got, want := DefaultListeners(false), (Listeners{Metrics: "127.0.0.1:8080", Health: "127.0.0.1:9440", Webhook: "127.0.0.1:9292"}); got != want {
		t.Errorf("off the cluster: %+v, want %+v", got, want)
	}
	if got, want := DefaultListeners(true), (Listeners{Metrics: ":8080", Health: ":9440", Webhook: ":9292"}); got != want {
		t.Errorf("in a pod: %+v, want %+v", got, want)
	}
}

// A flag given keeps its value, "" included (that listener off); the
// others take the defaults; --listen takes none.
func TestListenersResolve(t *testing.T) {
	parse := func(args ...string) Listeners {
		t.Helper()
		var l Listeners
		fs := pflag.NewFlagSet("daemon", pflag.ContinueOnError)
		l.Bind(fs, true)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		l.Resolve(fs, DefaultListeners(false))
		return l
	}
	if got := parse("--webhook-addr", "", "--metrics-addr", "0.0.0.0:9000"); got.Webhook != "" || got.Metrics != "0.0.0.0:9000" || got.Health != "127.0.0.1:9440" {
		t.Errorf("resolved %+v", got)
	}
	if got := parse("--listen", "127.0.0.1:7000"); got != (Listeners{All: "127.0.0.1:7000"}) {
		t.Errorf("--listen resolved to %+v, want it alone", got)
	}
}

func TestListenersValidate(t *testing.T) {
	for _, tt := range []struct {
		l    Listeners
		want string
	}{
		{Listeners{All: ":1", Metrics: ":2"}, "not both"},
		{Listeners{Webhook: ":1", WebhookTLSCert: "c"}, "go together"},
		{Listeners{WebhookTLSCert: "c", WebhookTLSKey: "k"}, "no webhook address"},
	} {
		err := tt.l.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) || errs.KindOf(err) != errs.KindInput {
			t.Errorf("%+v: %v (%v), want an input error saying %q", tt.l, err, errs.KindOf(err), tt.want)
		}
	}
	if err := (Listeners{Webhook: ":1", WebhookTLSCert: "c", WebhookTLSKey: "k"}).Validate(); err != nil {
		t.Errorf("a TLS webhook: %v", err)
	}
}

// writePair writes a self-signed certificate for name and its key.
func writePair(t *testing.T, dir, name string) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, keyFile
}

// A rotated pair is served once the files change; a broken one keeps the
// last good pair in service.
func TestKeyPairReloads(t *testing.T) {
	dir := t.TempDir()
	cert, key := writePair(t, dir, "first")
	kp := &keyPair{certFile: cert, keyFile: key}
	subject := func() string {
		t.Helper()
		kp.mu.Lock()
		kp.checked = time.Time{} // as if the recheck interval had passed
		kp.mu.Unlock()
		c, err := kp.get()
		if err != nil {
			t.Fatal(err)
		}
		x, err := x509.ParseCertificate(c.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		return x.Subject.CommonName
	}
	if got := subject(); got != "first" {
		t.Fatalf("served %q, want first", got)
	}
	later := time.Now().Add(time.Minute)
	writePair(t, dir, "second")
	for _, f := range []string{cert, key} {
		if err := os.Chtimes(f, later, later); err != nil {
			t.Fatal(err)
		}
	}
	if got := subject(); got != "second" {
		t.Errorf("after the rotation served %q, want second", got)
	}
	if err := os.WriteFile(key, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := subject(); got != "second" {
		t.Errorf("after a broken key served %q, want the last good pair", got)
	}
}
