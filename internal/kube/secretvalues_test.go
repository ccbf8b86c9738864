package kube

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"k8s.io/client-go/rest"
)

// A list of Secrets larger than any bound reaches the caller whole, and
// the values of its last Secret are recorded as those of its first.
func TestRecordSecretsPassesLargeListsWhole(t *testing.T) {
	type secret struct {
		Data map[string]string `json:"data"`
	}
	var list struct {
		Items []secret `json:"items"`
	}
	chunk := strings.Repeat("v", 1<<20)
	for i := range 40 {
		v := fmt.Sprintf("value-%02d-%s", i, chunk)
		list.Items = append(list.Items, secret{Data: map[string]string{"k": base64.StdEncoding.EncodeToString([]byte(v))}})
	}
	body, err := json.Marshal(list)
	if err != nil {
		t.Fatal(err)
	}
	if len(body) <= 32<<20 {
		t.Fatalf("fixture: %d bytes, want more than 32 MiB", len(body))
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	defer srv.Close()

	cfg, sv := RecordSecrets(&rest.Config{Host: srv.URL})
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Get(srv.URL + "/api/v1/namespaces/ml/secrets")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(body) {
		t.Fatalf("the caller read %d bytes of the %d the server sent", len(got), len(body))
	}
	last := fmt.Sprintf("value-%02d-%s", 39, chunk)
	if !slices.Contains(sv.Values(), last) {
		t.Error("the last Secret's value was not recorded")
	}
}
