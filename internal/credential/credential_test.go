package credential

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestHost(t *testing.T) {
	for _, tt := range []struct {
		in, want, err string
	}{
		{in: "charts.example.com", want: "charts.example.com"},
		{in: "Charts.Example.com:443", want: "charts.example.com"},
		{in: "registry.example.com:5000", want: "registry.example.com:5000"},
		{in: "127.0.0.1:8443", want: "127.0.0.1:8443"},
		{in: "[::1]:8443", want: "[::1]:8443"},
		{in: "https://charts.example.com", err: "without a scheme or path"},
		{in: "charts.example.com/stable", err: "without a scheme or path"},
		{in: "bot@charts.example.com", err: "without a scheme or path"},
		{in: "charts.example.com:", err: "not a host name"},
		{in: "charts.example.com:99999", err: "port"},
		{in: "", err: "no host"},
	} {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Host(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Host(%q) = %q, %v; want an error saying %q", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Host(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestAllows(t *testing.T) {
	c := &Credential{Name: "c", Hosts: []string{"charts.example.com", "registry.example.com:5000"}}
	for u, want := range map[string]bool{
		"https://charts.example.com/index.yaml":     true,
		"https://charts.example.com:443/a.tgz":      true,
		"oci://registry.example.com:5000/charts/x":  true,
		"http://charts.example.com/index.yaml":      false,
		"https://charts.example.com:8443/index":     false,
		"https://cdn.charts.example.com/a.tgz":      false,
		"https://registry.example.com/v2/":          false,
		"https://charts.example.com.evil.test/x":    false,
		"oci://registry.example.com.evil:5000/x/y":  false,
		"https://registry.example.com:5000/v2/x/y/": true,
	} {
		p, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Allows(p); got != want {
			t.Errorf("Allows(%s) = %v, want %v", u, got, want)
		}
	}
}

// testCA writes a self-signed certificate in PEM to a file.
func testCA(t *testing.T) (string, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	file := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return file, data
}

func TestFromBindings(t *testing.T) {
	caFile, ca := testCA(t)
	env := map[string]string{
		"ENVCTL_HELM_CREDENTIAL_CHARTS_USERNAME":        "reader",
		"ENVCTL_HELM_CREDENTIAL_CHARTS_PASSWORD":        "s3cret-charts",
		"ENVCTL_HELM_CREDENTIAL_CORP_REGISTRY_USERNAME": "robot",
		"ENVCTL_HELM_CREDENTIAL_CORP_REGISTRY_PASSWORD": "s3cret-registry",
		"ENVCTL_HELM_CREDENTIAL_CORP_REGISTRY_CA_FILE":  caFile,
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	got, err := FromBindings([]string{"charts=charts.example.com", "corp-registry=registry.corp:5000", "corp-registry=auth.corp", "charts=Charts.Example.com:443"}, "--helm-credential", lookup)
	if err != nil {
		t.Fatal(err)
	}
	want := Set{
		"charts": {Name: "charts", Hosts: []string{"charts.example.com"}, Username: "reader", Password: "s3cret-charts",
			From: "--helm-credential charts with $ENVCTL_HELM_CREDENTIAL_CHARTS_USERNAME and $ENVCTL_HELM_CREDENTIAL_CHARTS_PASSWORD"},
		"corp-registry": {Name: "corp-registry", Hosts: []string{"registry.corp:5000", "auth.corp"}, Username: "robot", Password: "s3cret-registry", CA: ca,
			From: "--helm-credential corp-registry with $ENVCTL_HELM_CREDENTIAL_CORP_REGISTRY_USERNAME and $ENVCTL_HELM_CREDENTIAL_CORP_REGISTRY_PASSWORD"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"s3cret-charts", "s3cret-registry"}, got.Secrets()); diff != "" {
		t.Errorf("Secrets (-want +got):\n%s", diff)
	}
}

func TestFromBindingsProblems(t *testing.T) {
	env := map[string]string{
		"ENVCTL_HELM_CREDENTIAL_HALF_USERNAME":  "reader",
		"ENVCTL_HELM_CREDENTIAL_BADCA_USERNAME": "u", "ENVCTL_HELM_CREDENTIAL_BADCA_PASSWORD": "p-secret-77",
		"ENVCTL_HELM_CREDENTIAL_BADCA_CA_FILE": "/etc/hostname",
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	_, err := FromBindings([]string{"half=charts.example.com", "nohost", "Bad_Name=x.example.com", "url=https://x.example.com", "badca=x.example.com"}, "ENVCTL_HELM_CREDENTIAL", lookup)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`ENVCTL_HELM_CREDENTIAL "nohost": want NAME=HOST`,
		`ENVCTL_HELM_CREDENTIAL "Bad_Name=x.example.com": "Bad_Name" is not a credential name`,
		`ENVCTL_HELM_CREDENTIAL "url=https://x.example.com": "https://x.example.com" is not a host`,
		`ENVCTL_HELM_CREDENTIAL binds credential "half", but ENVCTL_HELM_CREDENTIAL_HALF_PASSWORD is not set`,
		`ENVCTL_HELM_CREDENTIAL_BADCA_CA_FILE: `,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "p-secret-77") || strings.Contains(err.Error(), "reader") {
		t.Errorf("the error shows a value: %v", err)
	}
}

func TestFile(t *testing.T) {
	_, ca := testCA(t)
	set := Set{
		"charts":   {Name: "charts", Hosts: []string{"charts.example.com"}, Username: "reader", Password: "p1"},
		"registry": {Name: "registry", Hosts: []string{"registry.corp:5000", "auth.corp"}, Username: "robot", Password: "p2", CA: ca},
	}
	data, err := Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(data, "creds.yaml")
	if err != nil {
		t.Fatalf("Parse(Marshal(set)): %v\n%s", err, data)
	}
	for _, c := range set {
		c.From = "creds.yaml"
	}
	if diff := cmp.Diff(set, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestFileProblems(t *testing.T) {
	for _, tt := range []struct {
		name, data string
		want       []string
	}{
		{"unknown field", "apiVersion: envctl.dev/v1alpha1\nkind: HelmCredentials\ncredentials:\n  - name: c\n    hosts: [h]\n    username: u\n    passwordFile: /etc/passwd\n",
			[]string{`creds.yaml: not a HelmCredentials file:`, `unknown field "passwordFile"`}},
		{"every problem", `apiVersion: v1
kind: Secret
credentials:
  - name: ok
    hosts: [charts.example.com]
    username: u
    password: p-secret-88
  - name: ok
    hosts: [x]
    username: u
    password: p
  - name: Bad
  - name: nohosts
    username: u
  - name: badhost
    hosts: [https://x.example.com/charts]
    username: u
    password: p
    ca: not a certificate
`, []string{
			`creds.yaml: want apiVersion envctl.dev/v1alpha1 and kind HelmCredentials, got "v1" and "Secret"`,
			`creds.yaml: credential "ok" is given twice`,
			`creds.yaml: credentials[2].name: "Bad" is not a credential name`,
			`creds.yaml: credential "nohosts": hosts: give the hosts it may be sent to`,
			`creds.yaml: credential "nohosts": both username and password are required`,
			`creds.yaml: credential "badhost": hosts: "https://x.example.com/charts" is not a host`,
			`creds.yaml: credential "badhost": ca holds no PEM certificate`,
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.data), "creds.yaml")
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), "p-secret-88") {
				t.Errorf("the error shows a password: %v", err)
			}
		})
	}
}

func TestMerge(t *testing.T) {
	a := Set{"charts": {Name: "charts", From: "--helm-credential charts"}}
	b := Set{"charts": {Name: "charts", From: "creds.yaml"}, "other": {Name: "other"}}
	if _, err := Merge(a, b); err == nil || !strings.Contains(err.Error(), `credential "charts" is bound twice, by --helm-credential charts and by creds.yaml`) {
		t.Errorf("Merge = %v, want a conflict naming both", err)
	}
	got, err := Merge(a, Set{"other": {Name: "other"}}, nil)
	if err != nil || len(got) != 2 {
		t.Errorf("Merge = %v, %v", got, err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("apiVersion: envctl.dev/v1alpha1\nkind: HelmCredentials\ncredentials:\n  - name: c\n    hosts: [h:1]\n    username: u\n    password: p\n"))
	f.Add([]byte("credentials: [{name: x, hosts: ['[::1]:80']}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := Parse(data, "f.yaml")
		if err != nil {
			return
		}
		for name, c := range set {
			if CheckName(name) != nil || len(c.Hosts) == 0 || c.Username == "" || c.Password == "" {
				t.Fatalf("accepted a credential that is not whole: %+v", c)
			}
			for _, h := range c.Hosts {
				if n, err := Host(h); err != nil || n != h {
					t.Fatalf("accepted host %q (%q, %v)", h, n, err)
				}
			}
		}
	})
}

func FuzzHost(f *testing.F) {
	for _, s := range []string{"charts.example.com", "a:443", "[::1]:1", "x/y", "a@b", "h:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := Host(s)
		if err != nil {
			return
		}
		u, perr := url.Parse("https://" + h)
		if perr != nil || u.Host != h || u.Path != "" || u.User != nil {
			t.Fatalf("Host(%q) = %q, which is not a URL's host alone", s, h)
		}
	})
}
