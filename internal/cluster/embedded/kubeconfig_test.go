package embedded

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/client-go/tools/clientcmd"
)

func TestKubeconfigNamesEverythingAfterTheContext(t *testing.T) {
	dir := t.TempDir()
	ca, err := loadOrCreateCA(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"), "test-ca")
	if err != nil {
		t.Fatal(err)
	}
	admin, err := issue(ca, pkix.Name{CommonName: adminUser, Organization: []string{adminGroup}}, nil, nil, x509.ExtKeyUsageClientAuth)
	if err != nil {
		t.Fatal(err)
	}
	data, err := kubeconfig("https://127.0.0.1:6443", ca.certPEM(), admin, "envctl-dev")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.Load(data)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{"clusters": {}, "users": {}, "contexts": {}}
	for k := range cfg.Clusters {
		got["clusters"] = append(got["clusters"], k)
	}
	for k := range cfg.AuthInfos {
		got["users"] = append(got["users"], k)
	}
	for k := range cfg.Contexts {
		got["contexts"] = append(got["contexts"], k)
	}
	want := map[string][]string{"clusters": {"envctl-dev"}, "users": {"envctl-dev"}, "contexts": {"envctl-dev"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
	if cfg.CurrentContext != "envctl-dev" {
		t.Errorf("current context %q", cfg.CurrentContext)
	}
	if c := cfg.Clusters["envctl-dev"]; c.Server != "https://127.0.0.1:6443" || !bytes.Equal(c.CertificateAuthorityData, ca.certPEM()) {
		t.Errorf("cluster %+v, want the server and the CA", c)
	}
	if u := cfg.AuthInfos["envctl-dev"]; !bytes.Equal(u.ClientCertificateData, admin.certPEM()) || len(u.ClientKeyData) == 0 {
		t.Error("user lacks the admin certificate or key")
	}
}
