package existing

import (
	"context"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/envctl/envctl/internal/cluster"
	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/errs"
)

const token = "secret-test-token"

// apiServer answers /version and /api/v1/nodes the way a Kubernetes API
// server does, to an authenticated client only.
func apiServer(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/version", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"major":"1","minor":"37","gitVersion":"v1.37.2","platform":"linux/amd64"}`)
	})
	mux.HandleFunc("/api/v1/nodes", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"kind":"NodeList","apiVersion":"v1","metadata":{},"items":[{"metadata":{"name":"a"}},{"metadata":{"name":"b"}}]}`)
	})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Unauthorized","code":401}`, http.StatusUnauthorized)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// writeKubeconfig writes a kubeconfig with contexts "ml" (to server) and
// "other", current context ml, and returns its path.
func writeKubeconfig(t *testing.T, server string, ca []byte) string {
	t.Helper()
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca})
	content := fmt.Sprintf(`apiVersion: v1
kind: Config
current-context: ml
clusters:
- name: ml
  cluster: {server: %q, certificate-authority-data: %q}
- name: other
  cluster: {server: "https://other.example.com"}
users:
- name: ml
  user: {token: %q}
contexts:
- name: ml
  context: {cluster: ml, user: ml}
- name: other
  context: {cluster: other, user: ml}
`, server, base64.StdEncoding.EncodeToString(caPEM), token)
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestEnsure(t *testing.T) {
	srv := apiServer(t)
	path := writeKubeconfig(t, srv.URL, srv.Certificate().Raw)
	p := New(cluster.Options{})

	in, err := p.Ensure(context.Background(), cluster.Spec{Name: "prod", Cluster: config.ClusterSpec{
		Existing: &config.ExistingSpec{Kubeconfig: path, Context: "ml"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := &cluster.Info{Name: "prod", Provider: "existing", Context: "ml", Server: srv.URL, Version: "v1.37.2", Status: "running", Nodes: 2}
	if diff := cmp.Diff(want, in); diff != "" {
		t.Errorf("Info (-want +got):\n%s", diff)
	}
	// Ensure remembers the cluster: the other methods now know it.
	if ok, _ := p.Exists(context.Background(), "prod"); !ok {
		t.Errorf("Exists(prod) = false after Ensure")
	}
	list, err := p.List(context.Background())
	if err != nil || len(list) != 1 {
		t.Fatalf("List = %v, %v", list, err)
	}
	if diff := cmp.Diff(*want, list[0]); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	rc, err := p.RESTConfig(context.Background(), "prod")
	if err != nil || rc.Host != srv.URL {
		t.Errorf("RESTConfig = %v, %v", rc, err)
	}
	kc, err := p.Kubeconfig(context.Background(), "prod")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.Load(kc)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Contexts) != 1 || cfg.CurrentContext != "ml" {
		t.Errorf("kubeconfig has %d contexts, current %q; want only ml", len(cfg.Contexts), cfg.CurrentContext)
	}
}

func TestEnsureErrors(t *testing.T) {
	srv := apiServer(t)
	good := writeKubeconfig(t, srv.URL, srv.Certificate().Raw)
	missing := filepath.Join(t.TempDir(), "nope")
	// A server address nothing listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "https://" + l.Addr().String()
	l.Close()
	dead := writeKubeconfig(t, deadURL, srv.Certificate().Raw)

	for _, tc := range []struct {
		name string
		spec config.ExistingSpec
		kind errs.Kind
		want []string
	}{
		{"missing kubeconfig", config.ExistingSpec{Kubeconfig: missing}, errs.KindInput, []string{"cluster prod", missing, "does not exist"}},
		{"unknown context", config.ExistingSpec{Kubeconfig: good, Context: "staging"}, errs.KindInput, []string{good, `context "staging" not found`, "ml, other"}},
		{"unreachable server", config.ExistingSpec{Kubeconfig: dead}, errs.KindCluster, []string{"cluster prod (current context of " + dead + ") does not answer", deadURL}},
		{"not in a pod", config.ExistingSpec{InCluster: true}, errs.KindInput, []string{"cluster prod: in-cluster configuration", "KUBERNETES_SERVICE_HOST"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := New(cluster.Options{})
			p.inCluster = func() (*rest.Config, error) {
				return nil, errors.New("unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined")
			}
			_, err := p.Ensure(context.Background(), cluster.Spec{Name: "prod", Cluster: config.ClusterSpec{Existing: &tc.spec}})
			if err == nil {
				t.Fatal("Ensure succeeded")
			}
			if errs.KindOf(err) != tc.kind {
				t.Errorf("kind %v, want %v: %v", errs.KindOf(err), tc.kind, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), token) {
				t.Errorf("error leaks the token")
			}
			if ok, _ := p.Exists(context.Background(), "prod"); ok {
				t.Errorf("a cluster that failed its check is remembered")
			}
		})
	}
}

func TestInCluster(t *testing.T) {
	srv := apiServer(t)
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	p := New(cluster.Options{Existing: &cluster.ExistingTarget{Name: "home", ExistingSpec: config.ExistingSpec{InCluster: true}}})
	p.inCluster = func() (*rest.Config, error) {
		return &rest.Config{Host: srv.URL, BearerTokenFile: tokenFile, TLSClientConfig: rest.TLSClientConfig{Insecure: true}}, nil
	}
	in, err := p.Ensure(context.Background(), cluster.Spec{Name: "home"})
	if err != nil {
		t.Fatal(err)
	}
	if in.Version != "v1.37.2" || in.Server != srv.URL {
		t.Errorf("Info = %+v", in)
	}
	kc, err := p.Kubeconfig(context.Background(), "home")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(kc), token) || !strings.Contains(string(kc), tokenFile) {
		t.Errorf("in-cluster kubeconfig must refer to the token file, not copy the token:\n%s", kc)
	}
}

func TestNeverDeletes(t *testing.T) {
	p := New(cluster.Options{Existing: &cluster.ExistingTarget{Name: "prod", ExistingSpec: config.ExistingSpec{Context: "prod-admin"}}})
	err := p.Delete(context.Background(), "prod")
	if errs.KindOf(err) != errs.KindInput || !strings.Contains(err.Error(), "envctl does not delete clusters it did not create") || !strings.Contains(err.Error(), "prod-admin") {
		t.Errorf("Delete(prod) = %v", err)
	}
	if err := p.Delete(context.Background(), "other"); !cluster.IsNotFound(err) {
		t.Errorf("Delete(other) = %v, want not found", err)
	}
}

func TestListWithoutTargetIsEmpty(t *testing.T) {
	got, err := New(cluster.Options{}).List(context.Background())
	if err != nil || len(got) != 0 {
		t.Errorf("List = %v, %v; want nothing when no cluster is configured", got, err)
	}
}

func TestListReportsUnreachableAsUnknown(t *testing.T) {
	p := New(cluster.Options{Existing: &cluster.ExistingTarget{Name: "prod", ExistingSpec: config.ExistingSpec{Kubeconfig: filepath.Join(t.TempDir(), "gone")}}})
	got, err := p.List(context.Background())
	if err != nil || len(got) != 1 {
		t.Fatalf("List = %v, %v", got, err)
	}
	if got[0].Status != cluster.StatusUnknown || !strings.Contains(got[0].Message, "does not exist") {
		t.Errorf("List = %+v, want status unknown saying the kubeconfig is missing", got[0])
	}
}

func TestKubeconfigPathUnderHome(t *testing.T) {
	srv := apiServer(t)
	home := t.TempDir()
	t.Setenv("HOME", home)
	path := writeKubeconfig(t, srv.URL, srv.Certificate().Raw)
	if err := os.Rename(path, filepath.Join(home, "prod.kubeconfig")); err != nil {
		t.Fatal(err)
	}
	p := New(cluster.Options{})
	in, err := p.Ensure(context.Background(), cluster.Spec{Name: "prod", Cluster: config.ClusterSpec{Existing: &config.ExistingSpec{Kubeconfig: "~/prod.kubeconfig"}}})
	if err != nil || in.Server != srv.URL {
		t.Fatalf("Ensure with ~/prod.kubeconfig = %+v, %v", in, err)
	}
}
