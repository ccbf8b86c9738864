package embedded

import (
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPKI(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	p, err := newPKI(dir, []net.IP{net.IPv4(127, 0, 0, 1), net.ParseIP("10.96.0.1")}, []string{"localhost", "kubernetes.default.svc"})
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(p.ca.cert)

	server, err := loadPair(p.serverCert, p.serverKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"127.0.0.1", "10.96.0.1", "localhost", "kubernetes.default.svc"} {
		if _, err := server.cert.Verify(x509.VerifyOptions{DNSName: host, Roots: roots}); err != nil {
			t.Errorf("serving certificate for %s: %v", host, err)
		}
	}
	if _, err := server.cert.Verify(x509.VerifyOptions{DNSName: "example.com", Roots: roots}); err == nil {
		t.Error("serving certificate is valid for example.com")
	}

	clientUsage := x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	for _, c := range []struct {
		kp     keyPair
		cn     string
		groups []string
	}{
		{p.admin, adminUser, []string{"system:masters"}},
		{p.controllerManager, "system:kube-controller-manager", nil},
		{p.scheduler, "system:kube-scheduler", nil},
		{p.nodeSim, nodeSimUser, []string{"system:masters"}},
	} {
		if _, err := c.kp.cert.Verify(clientUsage); err != nil {
			t.Errorf("%s: %v", c.cn, err)
		}
		if c.kp.cert.Subject.CommonName != c.cn || !cmp.Equal(c.kp.cert.Subject.Organization, c.groups) {
			t.Errorf("client certificate subject %v, want CN=%s O=%v", c.kp.cert.Subject, c.cn, c.groups)
		}
	}

	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) < 10 {
		t.Errorf("pki dir holds %d files, want the CAs, serving, front-proxy and service-account keys", len(entries))
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", e.Name(), info.Mode().Perm())
		}
	}
	if info, err := os.Stat(dir); err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("pki dir mode: %v %v, want 0700", info.Mode().Perm(), err)
	}

	// A second start reuses the CAs and the service-account key, so that
	// kubeconfigs and tokens from the first stay valid.
	saKey, err := os.ReadFile(p.saKey)
	if err != nil {
		t.Fatal(err)
	}
	again, err := newPKI(dir, []net.IP{net.IPv4(127, 0, 0, 1)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !again.ca.cert.Equal(p.ca.cert) || !again.frontProxy.cert.Equal(p.frontProxy.cert) {
		t.Error("second start made new CAs")
	}
	if saKey2, _ := os.ReadFile(again.saKey); string(saKey2) != string(saKey) {
		t.Error("second start made a new service-account key")
	}
	if _, err := p.admin.cert.Verify(x509.VerifyOptions{Roots: rootsOf(again.ca.cert), KeyUsages: clientUsage.KeyUsages}); err != nil {
		t.Errorf("first admin certificate not valid after the second start: %v", err)
	}
}

func rootsOf(c *x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c)
	return p
}

func TestWriteFileTightensMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeFile(path, []byte("new")); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if info.Mode().Perm() != 0o600 || string(data) != "new" {
		t.Errorf("mode %v content %q, want 0600 and new", info.Mode().Perm(), data)
	}
}
