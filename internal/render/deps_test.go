package render

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/repo"
	"sigs.k8s.io/yaml"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/credential"
	"github.com/envctl/envctl/internal/errs"
)

// tinyChart packages a chart named name at version whose one ConfigMap
// says which chart it is: data.from = from.
func tinyChart(t *testing.T, name, version, from string) []byte {
	t.Helper()
	ch := &chart.Chart{
		Metadata: &chart.Metadata{APIVersion: "v2", Name: name, Version: version},
		Templates: []*chart.File{{Name: "templates/cm.yaml", Data: []byte(`apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-` + name + `
data:
  from: ` + from + "\n")}},
	}
	file, err := chartutil.Save(ch, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// testRegistry is a small OCI distribution registry on loopback for Helm
// charts: tags can be moved, and it can require basic auth.
type testRegistry struct {
	t   *testing.T
	srv *httptest.Server
	// user and password, when set, are required.
	user, password string
	// tokenRealm, when set, is the token service (on another host) whose
	// bearer tokens the registry asks for; it takes any.
	tokenRealm string
	// requests counts the requests served.
	requests atomic.Int32

	mu    sync.Mutex
	blobs map[string][]byte
	// manifests by repository and tag or digest.
	manifests map[string][]byte
	tags      map[string][]string
}

func newRegistry(t *testing.T, tls bool) *testRegistry {
	r := &testRegistry{t: t, blobs: map[string][]byte{}, manifests: map[string][]byte{}, tags: map[string][]string{}}
	h := http.HandlerFunc(r.serve)
	if tls {
		r.srv = httptest.NewTLSServer(h)
	} else {
		r.srv = httptest.NewServer(h)
	}
	t.Cleanup(r.srv.Close)
	return r
}

func (r *testRegistry) host() string {
	return strings.TrimPrefix(strings.TrimPrefix(r.srv.URL, "http://"), "https://")
}

// push stores a chart archive under repository:tag, moving the tag if it
// was somewhere else.
func (r *testRegistry) push(repository, tag string, archive []byte) {
	r.t.Helper()
	ch, err := loader.LoadArchive(bytes.NewReader(archive))
	if err != nil {
		r.t.Fatal(err)
	}
	cfg, _ := json.Marshal(ch.Metadata)
	manifest, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.cncf.helm.config.v1+json",
			"digest": "sha256:" + sha256Hex(cfg), "size": len(cfg)},
		"layers": []any{map[string]any{"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
			"digest": "sha256:" + sha256Hex(archive), "size": len(archive)}},
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	r.blobs["sha256:"+sha256Hex(cfg)] = cfg
	r.blobs["sha256:"+sha256Hex(archive)] = archive
	r.manifests[repository+":"+tag] = manifest
	r.manifests[repository+"@sha256:"+sha256Hex(manifest)] = manifest
	for _, t := range r.tags[repository] {
		if t == tag {
			return
		}
	}
	r.tags[repository] = append(r.tags[repository], tag)
}

func (r *testRegistry) serve(w http.ResponseWriter, req *http.Request) {
	r.requests.Add(1)
	if r.tokenRealm != "" && !strings.HasPrefix(req.Header.Get("Authorization"), "Bearer ") {
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+r.tokenRealm+`",service="test"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if r.user != "" {
		u, p, ok := req.BasicAuth()
		if !ok || u != r.user || p != r.password {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
	}
	if req.URL.Path == "/v2/" {
		w.WriteHeader(http.StatusOK)
		return
	}
	rest, ok := strings.CutPrefix(req.URL.Path, "/v2/")
	if !ok {
		http.NotFound(w, req)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case strings.Contains(rest, "/manifests/"):
		repository, ref, _ := strings.Cut(rest, "/manifests/")
		key := repository + ":" + ref
		if strings.HasPrefix(ref, "sha256:") {
			key = repository + "@" + ref
		}
		m, ok := r.manifests[key]
		if !ok {
			http.NotFound(w, req)
			return
		}
		w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
		w.Header().Set("Docker-Content-Digest", "sha256:"+sha256Hex(m))
		w.Header().Set("Content-Length", fmt.Sprint(len(m)))
		if req.Method == http.MethodGet {
			w.Write(m)
		}
	case strings.Contains(rest, "/blobs/"):
		_, digest, _ := strings.Cut(rest, "/blobs/")
		b, ok := r.blobs[digest]
		if !ok {
			http.NotFound(w, req)
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		w.Write(b)
	case strings.HasSuffix(rest, "/tags/list"):
		repository := strings.TrimSuffix(rest, "/tags/list")
		json.NewEncoder(w).Encode(map[string]any{"name": repository, "tags": r.tags[repository]})
	default:
		http.NotFound(w, req)
	}
}

// isolateHelmConfig keeps Helm's registry client away from the user's
// credentials: its config and Docker's point into the test's directories.
func isolateHelmConfig(t *testing.T) string {
	dir := t.TempDir()
	t.Setenv("HELM_CONFIG_HOME", filepath.Join(dir, "helm"))
	t.Setenv("HELM_REGISTRY_CONFIG", filepath.Join(dir, "helm", "registry.json"))
	t.Setenv("DOCKER_CONFIG", filepath.Join(dir, "docker"))
	return dir
}

func ociEnv(chartRef, version string, auth *config.RepoAuth) *config.Environment {
	return newEnv(config.ProviderEmbedded, config.Component{Name: "remote", Helm: &config.HelmRelease{
		Chart: chartRef, Version: version, Namespace: "remote", RepoAuth: auth}})
}

// TestOCITagMoved: a tag moved to another chart is seen on the next render;
// with the registry gone, the chart the tag last resolved to is used.
func TestOCITagMoved(t *testing.T) {
	isolateHelmConfig(t)
	reg := newRegistry(t, false)
	reg.push("charts/tiny", "1.0.0", tinyChart(t, "tiny", "1.0.0", "first"))
	env := ociEnv("oci://"+reg.host()+"/charts/tiny", "1.0.0", nil)
	cache := t.TempDir()
	from := func() any {
		t.Helper()
		res, err := renderRepo(t, t.TempDir(), env, func(o *Options) { o.ChartCacheDir = cache })
		if err != nil {
			t.Fatal(err)
		}
		return configData(t, res, "remote-tiny")["from"]
	}
	if got := from(); got != "first" {
		t.Fatalf("from = %v, want first", got)
	}
	reg.push("charts/tiny", "1.0.0", tinyChart(t, "tiny", "1.0.0", "second"))
	if got := from(); got != "second" {
		t.Errorf("after the tag moved: from = %v, want second", got)
	}
	reg.srv.Close()
	if got := from(); got != "second" {
		t.Errorf("with the registry gone: from = %v, want second, the chart the tag last resolved to", got)
	}
}

// TestOCICredentials: a registry that requires basic auth is refused
// without credentials, and accepted with Docker's config or with the
// operator's credential bound to it, which goes over https only.
func TestOCICredentials(t *testing.T) {
	dir := isolateHelmConfig(t)
	reg := newRegistry(t, false)
	reg.user, reg.password = "robot", "s3cret-registry-pass"
	reg.push("charts/tiny", "1.0.0", tinyChart(t, "tiny", "1.0.0", "private"))
	ref := "oci://" + reg.host() + "/charts/tiny"

	_, err := renderRepo(t, t.TempDir(), ociEnv(ref, "1.0.0", nil), nil)
	if err == nil {
		t.Fatal("pulled from a private registry without credentials")
	}

	auth := base64.StdEncoding.EncodeToString([]byte(reg.user + ":" + reg.password))
	writeTree(t, dir, map[string]string{"docker/config.json": `{"auths": {"` + reg.host() + `": {"auth": "` + auth + `"}}}`})
	if _, err := renderRepo(t, t.TempDir(), ociEnv(ref, "1.0.0", nil), nil); err != nil {
		t.Fatalf("with Docker's config: %v", err)
	}

	// The operator's credential, bound to a registry over TLS.
	secure := newRegistry(t, true)
	secure.user, secure.password = "robot", "s3cret-tls-registry-pass"
	secure.push("charts/tiny", "1.0.0", tinyChart(t, "tiny", "1.0.0", "operator"))
	bound := func(host string) func(*Options) {
		return func(o *Options) {
			o.Credentials = credential.Set{"registry": {Name: "registry", Hosts: []string{host},
				Username: secure.user, Password: secure.password, CA: caOf(secure.srv), From: "the test"}}
		}
	}
	res, err := renderRepo(t, t.TempDir(), ociEnv("oci://"+secure.host()+"/charts/tiny", "1.0.0", &config.RepoAuth{Credential: "registry"}), bound(secure.host()))
	if err != nil {
		t.Fatalf("with the operator's credential: %v", err)
	}
	if got := configData(t, res, "remote-tiny")["from"]; got != "operator" {
		t.Errorf("from = %v", got)
	}

	// Bound to the plain registry on loopback, to which envctl otherwise
	// talks http: with a credential it asks over https, which fails,
	// and the registry never sees a request.
	before := reg.requests.Load()
	_, err = renderRepo(t, t.TempDir(), ociEnv(ref, "1.0.0", &config.RepoAuth{Credential: "registry"}), bound(reg.host()))
	if err == nil {
		t.Fatal("a credential went to a registry over plain http")
	}
	if n := reg.requests.Load() - before; n != 0 {
		t.Errorf("the plain-http registry served %d requests with a credential bound to it, want none", n)
	}
}

// caOf is the PEM certificate of a test TLS server.
func caOf(srv *httptest.Server) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
}

// tlsRepo serves an HTTP chart repository over TLS that requires basic
// auth, and returns it with the PEM file of its certificate.
func tlsRepo(t *testing.T, user, password string, charts map[string][]byte) (*httptest.Server, string) {
	t.Helper()
	idx := repo.NewIndexFile()
	files := map[string][]byte{}
	for file, archive := range charts {
		ch, err := loader.LoadArchive(bytes.NewReader(archive))
		if err != nil {
			t.Fatal(err)
		}
		if err := idx.MustAdd(ch.Metadata, file, "", sha256Hex(archive)); err != nil {
			t.Fatal(err)
		}
		files["/"+file] = archive
	}
	index, err := yaml.Marshal(idx)
	if err != nil {
		t.Fatal(err)
	}
	files["/index.yaml"] = index
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); user != "" && (!ok || u != user || p != password) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		b, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	t.Cleanup(srv.Close)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(caFile, cert, 0o600); err != nil {
		t.Fatal(err)
	}
	return srv, caFile
}

// TestChartRepositoryAuth: an HTTPS repository with basic auth and its own
// CA needs the operator's credential with the CA; each missing piece is a
// clear error that never shows the password.
func TestChartRepositoryAuth(t *testing.T) {
	srv, caFile := tlsRepo(t, "reader", "repo-pass-42", map[string][]byte{"tiny-1.0.0.tgz": tinyChart(t, "tiny", "1.0.0", "tls")})
	ca, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	writeTree(t, root, map[string]string{"certs/ca.pem": string(ca)})
	env := func(auth *config.RepoAuth) *config.Environment {
		return newEnv(config.ProviderEmbedded, config.Component{Name: "remote", Helm: &config.HelmRelease{
			Chart: "tiny", Repo: srv.URL, Version: "1.0.0", Namespace: "remote", RepoAuth: auth}})
	}
	creds := func(password string, ca []byte) credential.Set {
		return credential.Set{"charts": {Name: "charts", Hosts: []string{hostOf(srv.URL)}, Username: "reader", Password: password, CA: ca,
			From: "--helm-credential charts with $ENVCTL_HELM_CREDENTIAL_CHARTS_USERNAME and $ENVCTL_HELM_CREDENTIAL_CHARTS_PASSWORD"}}
	}
	tests := []struct {
		name  string
		auth  *config.RepoAuth
		creds credential.Set
		want  string
	}{
		{"no CA", &config.RepoAuth{Credential: "charts"}, creds("repo-pass-42", nil), "certificate"},
		{"no credentials", &config.RepoAuth{CAFile: "certs/ca.pem"}, nil, "refused the request (401 Unauthorized): no credentials were sent; name a credential in helm.repoAuth.credential"},
		{"wrong password", &config.RepoAuth{Credential: "charts"}, creds("wrong-pass-17", ca), `refused the request (401 Unauthorized): check credential "charts" (--helm-credential charts with $ENVCTL_HELM_CREDENTIAL_CHARTS_USERNAME`},
		{"all", &config.RepoAuth{Credential: "charts"}, creds("repo-pass-42", ca), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := renderRepo(t, root, env(tt.auth), func(o *Options) { o.Credentials = tt.creds })
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got := configData(t, res, "remote-tiny")["from"]; got != "tls" {
					t.Errorf("from = %v", got)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one saying %q", err, tt.want)
			}
			for _, secret := range []string{"repo-pass-42", "wrong-pass-17"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("the password appears in the error: %v", err)
				}
			}
		})
	}
}

// TestChartDependencies resolves a chart's dependencies from a file:// path,
// an HTTP repository and an OCI registry, with and without Chart.lock.
func TestChartDependencies(t *testing.T) {
	isolateHelmConfig(t)
	// An HTTP repository (plain, on loopback) with the "web" chart.
	webArchive := tinyChart(t, "web", "2.1.0", "http")
	idx := repo.NewIndexFile()
	webCh, _ := loader.LoadArchive(bytes.NewReader(webArchive))
	if err := idx.MustAdd(webCh.Metadata, "web-2.1.0.tgz", "", sha256Hex(webArchive)); err != nil {
		t.Fatal(err)
	}
	index, _ := yaml.Marshal(idx)
	repoSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/index.yaml":
			w.Write(index)
		case "/web-2.1.0.tgz":
			w.Write(webArchive)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(repoSrv.Close)
	reg := newRegistry(t, false)
	reg.push("deps/cache", "3.0.1", tinyChart(t, "cache", "3.0.1", "oci"))

	deps := []*chart.Dependency{
		{Name: "lib", Version: "0.1.0", Repository: "file://../lib"},
		{Name: "web", Version: "^2.0.0", Repository: repoSrv.URL},
		{Name: "cache", Version: "~3.0.0", Repository: "oci://" + reg.host() + "/deps"},
	}
	chartYAML := func() string {
		b, _ := yaml.Marshal(map[string]any{"apiVersion": "v2", "name": "app", "version": "1.0.0", "dependencies": deps})
		return string(b)
	}()
	files := map[string]string{
		"charts/app/Chart.yaml":        chartYAML,
		"charts/app/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n",
		"charts/lib/Chart.yaml":        "apiVersion: v2\nname: lib\nversion: 0.1.0\n",
		"charts/lib/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-lib\ndata:\n  from: file\n",
	}
	root := fidelityRepo(t, files)
	env := newEnv(config.ProviderEmbedded, config.Component{Name: "app", Helm: &config.HelmRelease{Chart: "charts/app", Namespace: "app"}})
	res, err := renderRepo(t, root, env, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, from := range map[string]string{"app-lib": "file", "app-web": "http", "app-cache": "oci"} {
		if got := configData(t, res, name)["from"]; got != from {
			t.Errorf("%s: from = %v, want %s", name, got, from)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "charts/app/charts")); err == nil {
		t.Error("dependencies were written into the repository")
	}

	// A Chart.lock pins the versions; one out of sync with Chart.yaml is refused.
	locked := []*chart.Dependency{
		{Name: "lib", Version: "0.1.0", Repository: "file://../lib"},
		{Name: "web", Version: "2.1.0", Repository: repoSrv.URL},
		{Name: "cache", Version: "3.0.1", Repository: "oci://" + reg.host() + "/deps"},
	}
	digest, err := lockDigest(deps, locked)
	if err != nil {
		t.Fatal(err)
	}
	lock, _ := yaml.Marshal(map[string]any{"digest": digest, "dependencies": locked, "generated": "2025-01-01T00:00:00Z"})
	writeTree(t, root, map[string]string{"charts/app/Chart.lock": string(lock)})
	if _, err := renderRepo(t, root, env, nil); err != nil {
		t.Fatalf("with Chart.lock: %v", err)
	}
	lock = bytes.Replace(lock, []byte(digest), []byte("sha256:"+strings.Repeat("0", 64)), 1)
	writeTree(t, root, map[string]string{"charts/app/Chart.lock": string(lock)})
	_, err = renderRepo(t, root, env, nil)
	if err == nil || errs.KindOf(err) != errs.KindInput || !strings.Contains(err.Error(), "Chart.lock is out of sync") {
		t.Errorf("out-of-sync lock: %v, want a bad-input error", err)
	}

	// A locked version the repository no longer has is an error naming it.
	locked[1].Version = "2.0.9"
	digest, _ = lockDigest(deps, locked)
	lock, _ = yaml.Marshal(map[string]any{"digest": digest, "dependencies": locked, "generated": "2025-01-01T00:00:00Z"})
	writeTree(t, root, map[string]string{"charts/app/Chart.lock": string(lock)})
	_, err = renderRepo(t, root, env, nil)
	if err == nil || !strings.Contains(err.Error(), "dependency web") || !strings.Contains(err.Error(), "2.0.9") {
		t.Errorf("missing locked version: %v", err)
	}
}
