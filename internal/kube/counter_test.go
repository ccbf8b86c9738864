package kube

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/client-go/rest"
)

func TestCountingConfig(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{}`))
	}))
	defer srv.Close()

	cfg, counter := CountingConfig(&rest.Config{Host: srv.URL})
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	do := func(method, path string) {
		req, _ := http.NewRequestWithContext(context.Background(), method, srv.URL+path, nil)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	do(http.MethodGet, "/api/v1/namespaces")
	before := counter.Snapshot()
	do(http.MethodGet, "/api/v1/configmaps")
	do(http.MethodPatch, "/api/v1/namespaces/ml/configmaps/a")
	do(http.MethodDelete, "/api/v1/namespaces/ml/configmaps/b")

	got := counter.Snapshot().Sub(before)
	want := Snapshot{
		Requests:   3,
		Writes:     2,
		ByMethod:   map[string]int{"GET": 1, "PATCH": 1, "DELETE": 1},
		WritePaths: []string{"PATCH /api/v1/namespaces/ml/configmaps/a", "DELETE /api/v1/namespaces/ml/configmaps/b"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("counts since snapshot (-want +got):\n%s", diff)
	}
	counter.Reset()
	if s := counter.Snapshot(); s.Requests != 0 || s.Writes != 0 {
		t.Errorf("after Reset: %+v", s)
	}
}
