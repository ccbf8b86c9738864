package render

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/repo"
	"sigs.k8s.io/yaml"

	"github.com/envctl/envctl/internal/errs"
)

// packageDemoChart packages testdata/repo/charts/demo with the Helm SDK, as
// `helm package` would, and returns the archive.
func packageDemoChart(t *testing.T) (data []byte, version string) {
	t.Helper()
	ch, err := loader.Load("testdata/repo/charts/demo")
	if err != nil {
		t.Fatal(err)
	}
	file, err := chartutil.Save(ch, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data, err = os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return data, ch.Metadata.Version
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// chartRepoServer serves an HTTP chart repository holding the demo chart.
// digest overrides the digest the index gives.
func chartRepoServer(t *testing.T, digest string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	archive, version := packageDemoChart(t)
	ch, err := loader.LoadArchive(strings.NewReader(string(archive)))
	if err != nil {
		t.Fatal(err)
	}
	if digest == "" {
		digest = sha256Hex(archive)
	}
	idx := repo.NewIndexFile()
	name := fmt.Sprintf("demo-%s.tgz", version)
	if err := idx.MustAdd(ch.Metadata, "charts/"+name, "", digest); err != nil {
		t.Fatal(err)
	}
	index, err := yaml.Marshal(idx)
	if err != nil {
		t.Fatal(err)
	}
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		switch r.URL.Path {
		case "/stable/index.yaml":
			w.Write(index)
		case "/stable/charts/" + name:
			w.Write(archive)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &requests
}

// withRemoteDemo points the fixture's demo component at a remote chart.
func withRemoteDemo(chart, repoURL, version string) func(*Options) {
	return func(o *Options) {
		h := o.Environment.Component("demo").Helm
		h.Chart, h.Repo, h.Version = chart, repoURL, version
	}
}

func TestRenderChartFromHTTPRepository(t *testing.T) {
	srv, requests := chartRepoServer(t, "")
	cache := t.TempDir()
	local, err := renderFixture(t, "testdata/repo", nil)
	if err != nil {
		t.Fatal(err)
	}

	for _, version := range []string{"0.3.0", "^0.3.0"} {
		t.Run(version, func(t *testing.T) {
			res, err := renderFixture(t, "testdata/repo", func(o *Options) {
				withRemoteDemo("demo", srv.URL+"/stable", version)(o)
				o.ChartCacheDir = cache
			})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(yamlOf(t, local)), string(yamlOf(t, res))); diff != "" {
				t.Errorf("the pulled chart renders differently from the same chart in the repository (-local +pulled):\n%s", diff)
			}
		})
	}
	if n := requests.Load(); n != 3 {
		t.Errorf("%d requests, want 3: index and archive for the first render, the index again to resolve a constraint", n)
	}
	if _, err := os.Stat(filepath.Join(cache, "repo")); err != nil {
		t.Errorf("nothing cached: %v", err)
	}

	// Later renders of an exact version are offline.
	srv.Close()
	if _, err := renderFixture(t, "testdata/repo", func(o *Options) {
		withRemoteDemo("demo", srv.URL+"/stable", "0.3.0")(o)
		o.ChartCacheDir = cache
	}); err != nil {
		t.Fatalf("render from the cache with the repository gone: %v", err)
	}
}

func TestRenderChartRepositoryErrors(t *testing.T) {
	srv, _ := chartRepoServer(t, "")
	tampered, _ := chartRepoServer(t, strings.Repeat("0", 64))
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()

	tests := []struct {
		name     string
		chart    string
		repoURL  string
		version  string
		want     []string
		badInput bool
	}{
		{name: "unknown version", chart: "demo", repoURL: srv.URL + "/stable", version: "9.9.9",
			want: []string{"component demo", `chart "demo" version "9.9.9" is not in repository`}, badInput: true},
		{name: "unknown chart", chart: "trainer", repoURL: srv.URL + "/stable", version: "1.0.0",
			want: []string{`chart "trainer" version "1.0.0" is not in repository`}, badInput: true},
		{name: "no index", chart: "demo", repoURL: srv.URL + "/nothing", version: "0.3.0",
			want: []string{"has no index.yaml"}, badInput: true},
		{name: "digest mismatch", chart: "demo", repoURL: tampered.URL + "/stable", version: "0.3.0",
			want: []string{"digest mismatch", "sha256:0000"}, badInput: true},
		{name: "unreachable", chart: "demo", repoURL: gone.URL + "/stable", version: "0.3.0",
			want: []string{"fetch index of chart repository " + gone.URL + "/stable", "needs network access"}},
		{name: "not a URL", chart: "demo", repoURL: "charts.example.com", version: "0.3.0",
			want: []string{`chart repository "charts.example.com" is not an http(s) URL`}, badInput: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := renderFixture(t, "testdata/repo", withRemoteDemo(tt.chart, tt.repoURL, tt.version))
			if err == nil {
				t.Fatal("render succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
			if got := errs.KindOf(err) == errs.KindInput; got != tt.badInput {
				t.Errorf("classified as bad input: %v, want %v (%v)", got, tt.badInput, err)
			}
		})
	}
}

func TestParseOCIRef(t *testing.T) {
	tests := []struct {
		chart, version string
		want           ociRef
		err            string
	}{
		{chart: "oci://registry.example.com/charts/demo", version: "1.2.3",
			want: ociRef{Registry: "registry.example.com", Repository: "charts/demo", Tag: "1.2.3"}},
		{chart: "oci://localhost:5000/demo", version: "1.2.3+build.7",
			want: ociRef{Registry: "localhost:5000", Repository: "demo", Tag: "1.2.3_build.7"}},
		{chart: "oci://registry.example.com/charts/demo", version: "", err: "a version is required"},
		{chart: "oci://registry.example.com/charts/demo:1.0.0", version: "1.0.0", err: "not as a tag in the reference"},
		{chart: "oci://registry.example.com/charts/demo@sha256:" + strings.Repeat("a", 64), version: "1.0.0", err: "not as a digest"},
		{chart: "oci://registry.example.com/Charts/Demo", version: "1.0.0", err: "invalid OCI reference"},
		{chart: "oci://demo", version: "1.0.0", err: "invalid OCI reference"},
		{chart: "https://registry.example.com/demo", version: "1.0.0", err: "not an oci:// reference"},
	}
	for _, tt := range tests {
		t.Run(tt.chart+"@"+tt.version, func(t *testing.T) {
			got, err := parseOCIRef(tt.chart, tt.version)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("parseOCIRef = %v, %v; want an error containing %q", got, err, tt.err)
				}
				if errs.KindOf(err) != errs.KindInput {
					t.Errorf("error kind = %v, want input", errs.KindOf(err))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// ociRegistry is the read side of an OCI distribution registry holding one
// Helm chart, enough for Helm's registry client to pull it.
func ociRegistry(t *testing.T, repository, tag string, archive []byte, meta any) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	config, err := json.Marshal(meta)
	if err != nil {
		t.Fatal(err)
	}
	blobs := map[string][]byte{
		"sha256:" + sha256Hex(config):  config,
		"sha256:" + sha256Hex(archive): archive,
	}
	manifest, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.cncf.helm.config.v1+json",
			"digest": "sha256:" + sha256Hex(config), "size": len(config)},
		"layers": []any{map[string]any{"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
			"digest": "sha256:" + sha256Hex(archive), "size": len(archive)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	manifestDigest := "sha256:" + sha256Hex(manifest)
	var pulls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		prefix := "/v2/" + repository + "/"
		switch {
		case r.URL.Path == "/v2/":
			w.WriteHeader(http.StatusOK)
		case r.URL.Path == prefix+"manifests/"+tag || r.URL.Path == prefix+"manifests/"+manifestDigest:
			w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			w.Header().Set("Docker-Content-Digest", manifestDigest)
			w.Header().Set("Content-Length", fmt.Sprint(len(manifest)))
			if r.Method == http.MethodGet {
				pulls.Add(1)
				w.Write(manifest)
			}
		case strings.HasPrefix(r.URL.Path, prefix+"blobs/"):
			b, ok := blobs[strings.TrimPrefix(r.URL.Path, prefix+"blobs/")]
			if !ok {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Header().Set("Content-Length", fmt.Sprint(len(b)))
			w.Write(b)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &pulls
}

func TestRenderChartFromOCIRegistry(t *testing.T) {
	archive, version := packageDemoChart(t)
	ch, err := loader.LoadArchive(strings.NewReader(string(archive)))
	if err != nil {
		t.Fatal(err)
	}
	srv, pulls := ociRegistry(t, "charts/demo", version, archive, ch.Metadata)
	host := strings.TrimPrefix(srv.URL, "http://")
	cache := t.TempDir()
	local, err := renderFixture(t, "testdata/repo", nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		res, err := renderFixture(t, "testdata/repo", func(o *Options) {
			withRemoteDemo("oci://"+host+"/charts/demo", "", version)(o)
			o.ChartCacheDir = cache
		})
		if err != nil {
			t.Fatalf("render %d: %v", i, err)
		}
		if diff := cmp.Diff(string(yamlOf(t, local)), string(yamlOf(t, res))); diff != "" {
			t.Errorf("the pulled chart renders differently (-local +pulled):\n%s", diff)
		}
	}
	if n := pulls.Load(); n != 1 {
		t.Errorf("manifest pulled %d times, want once: the second render uses the cache", n)
	}
}

func TestRenderChartFromUnreachableRegistry(t *testing.T) {
	_, err := renderFixture(t, "testdata/repo", withRemoteDemo("oci://127.0.0.1:1/charts/demo", "", "0.3.0"))
	if err == nil {
		t.Fatal("render succeeded")
	}
	for _, w := range []string{"component demo", "resolve chart oci://127.0.0.1:1/charts/demo:0.3.0", "registry 127.0.0.1:1", "needs network access"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not mention %q:\n%v", w, err)
		}
	}
}

func TestCacheKey(t *testing.T) {
	a, b := cacheKey("charts.example.com/stable"), cacheKey("charts.example.com/stable/")
	if a != b {
		t.Errorf("a trailing slash changes the key: %s, %s", a, b)
	}
	if c := cacheKey("charts.example.com/other"); c == a {
		t.Errorf("two repositories share key %s", c)
	}
	if strings.ContainsAny(cacheKey("../../etc:passwd"), `/\:`) {
		t.Errorf("key %q is not one path element", cacheKey("../../etc:passwd"))
	}
}
