package kubeconfig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/envctl/envctl/internal/errs"
)

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "config")
	writeFile(t, good, userFile, 0o600)
	noCurrent := filepath.Join(dir, "no-current")
	writeFile(t, noCurrent, strings.Replace(userFile, "current-context: prod\n", "", 1), 0o600)
	dangling := filepath.Join(dir, "dangling")
	writeFile(t, dangling, userFile+"- name: broken\n  context: {cluster: nowhere, user: alice}\n", 0o600)
	missing := filepath.Join(dir, "missing")

	for _, tc := range []struct {
		name, path, context string
		want                []string
	}{
		{"missing file", missing, "", []string{missing, "does not exist"}},
		{"unknown context", good, "dev", []string{good, `context "dev" not found`, "prod, staging"}},
		{"no current context", noCurrent, "", []string{noCurrent, "no current-context", "prod, staging"}},
		{"context naming a missing cluster", dangling, "broken", []string{dangling, `context "broken"`, "nowhere"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tc.path, tc.context)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			if errs.KindOf(err) != errs.KindInput {
				t.Errorf("kind = %v, want input", errs.KindOf(err))
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "not-a-real-token") {
				t.Errorf("error leaks a token: %v", err)
			}
		})
	}
}

func TestLoadFromKUBECONFIG(t *testing.T) {
	dir := t.TempDir()
	first := filepath.Join(dir, "first")
	writeFile(t, first, userFile, 0o600)
	t.Setenv("KUBECONFIG", filepath.Join(dir, "absent")+string(os.PathListSeparator)+first)

	s, err := Load("", "staging")
	if err != nil {
		t.Fatal(err)
	}
	if s.Server() != "https://staging.example.com" {
		t.Errorf("Server() = %q", s.Server())
	}
	if s.File() != first {
		t.Errorf("File() = %q, want %q, the file of $KUBECONFIG that defines the context", s.File(), first)
	}
	cfg, err := s.RESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != "https://staging.example.com" || cfg.BearerToken != "not-a-real-token" {
		t.Errorf("rest config host %q, token set %v", cfg.Host, cfg.BearerToken != "")
	}

	_, err = Load("", "nope")
	if err == nil || !strings.Contains(err.Error(), "KUBECONFIG=") {
		t.Errorf("err = %v, want it to name the KUBECONFIG files", err)
	}
}

func TestMinifiedInlinesFilesAndKeepsOneContext(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.crt")
	writeFile(t, ca, "the-ca", 0o600)
	path := filepath.Join(dir, "config")
	writeFile(t, path, userFile+`- name: local
  context: {cluster: local, user: alice}
`+"", 0o600)
	// Add a cluster that refers to its CA by a relative file name.
	data, _ := os.ReadFile(path)
	data = []byte(strings.Replace(string(data), "clusters:\n", "clusters:\n- name: local\n  cluster: {server: https://127.0.0.1:6443, certificate-authority: ca.crt}\n", 1))
	writeFile(t, path, string(data), 0o600)

	s, err := Load(path, "local")
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Minified()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Contexts) != 1 || cfg.CurrentContext != "local" {
		t.Errorf("contexts %d, current %q; want only local", len(cfg.Contexts), cfg.CurrentContext)
	}
	if got := string(cfg.Clusters["local"].CertificateAuthorityData); got != "the-ca" {
		t.Errorf("CA data = %q, want the file's content inlined", got)
	}
}

func TestLoadWithoutAnyKubeconfig(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	for _, tc := range []struct{ env, want string }{
		{a, "no kubeconfig: KUBECONFIG=" + a + " does not exist"},
		{a + string(os.PathListSeparator) + b, "no kubeconfig: none of KUBECONFIG=" + a + string(os.PathListSeparator) + b + " exists"},
	} {
		t.Setenv("KUBECONFIG", tc.env)
		_, err := Load("", "")
		if err == nil || err.Error() != tc.want || errs.KindOf(err) != errs.KindInput {
			t.Errorf("KUBECONFIG=%s: err = %v, want %q", tc.env, err, tc.want)
		}
	}
}
