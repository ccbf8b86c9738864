package embedded

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/version"
	genericapiserver "k8s.io/apiserver/pkg/server"
)

func TestServerVersion(t *testing.T) {
	unstamped := &version.Info{Major: "1", Minor: "37", GitVersion: "v0.0.0-master+$Format:%H$", GitCommit: "$Format:%H$", GoVersion: "go1.26", Platform: "linux/amd64"}
	want := version.Info{Major: "1", Minor: "37", GitVersion: KubernetesVersion(), GitTreeState: "clean", GoVersion: "go1.26", Platform: "linux/amd64"}
	if diff := cmp.Diff(want, serverVersion(unstamped)); diff != "" {
		t.Errorf("unstamped build (-want +got):\n%s", diff)
	}
	stamped := &version.Info{Major: "1", Minor: "37", GitVersion: "v1.37.2-custom", GitCommit: "abc"}
	if diff := cmp.Diff(*stamped, serverVersion(stamped)); diff != "" {
		t.Errorf("a build stamped with -ldflags is reported as is (-want +got):\n%s", diff)
	}
}

func TestWithVersionAnswersVersionOnly(t *testing.T) {
	var reached []string
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached = append(reached, r.Method+" "+r.URL.Path)
		w.WriteHeader(http.StatusTeapot)
	})
	// The default chain would authenticate; a pass-through stands in, which
	// also shows that the override sits inside the chain.
	var chained bool
	build := func(h http.Handler, _ *genericapiserver.Config) http.Handler {
		chained = true
		return h
	}
	wrap, err := withVersion(build, version.Info{GitVersion: "v1.37.2"})
	if err != nil {
		t.Fatal(err)
	}
	h := wrap(inner, nil)
	if !chained {
		t.Fatal("the original chain was not built")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/version", nil))
	var got version.Info
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Code != http.StatusOK || got.GitVersion != "v1.37.2" {
		t.Errorf("GET /version: %d %s (%v), want 200 with v1.37.2", rec.Code, rec.Body, err)
	}
	for _, req := range []*http.Request{
		httptest.NewRequest(http.MethodGet, "/versions", nil),
		httptest.NewRequest(http.MethodPost, "/version", nil),
		httptest.NewRequest(http.MethodGet, "/api", nil),
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusTeapot {
			t.Errorf("%s %s answered by the override", req.Method, req.URL.Path)
		}
	}
	if len(reached) != 3 {
		t.Errorf("inner handler reached for %v, want the three other requests", reached)
	}
}
