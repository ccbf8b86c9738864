package plan_test

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/envctl/envctl/internal/apply"
	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/kube"
	"github.com/envctl/envctl/internal/object"
	"github.com/envctl/envctl/internal/plan"
	"github.com/envctl/envctl/internal/render"
	"github.com/envctl/envctl/internal/testenv"
)

// A Secret's fingerprint is keyed, and with the key diff finds an
// unchanged Secret with no request for it; without the key it asks the
// server (a dry-run), since no unkeyed fingerprint of a Secret exists.
func TestUnchangedSecretWithTheFingerprintKey(t *testing.T) {
	te := testenv.Get(t)
	cfg, counter := kube.CountingConfig(te.RESTConfig())
	client, err := kube.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ns := te.Namespace(t)
	const env = "plan-keyed"
	key := []byte("0123456789abcdef0123456789abcdef")
	s := secret(t, env, ns, "db", "canary-keyed-5a1c")
	fp := kube.Fingerprints{Key: key}
	digest, err := fp.Digest(s)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(digest, kube.SecretDigestPrefix) {
		t.Fatalf("a Secret's digest is %q, want a keyed one", digest)
	}
	if plain, _ := kube.Digest(s); plain != "" {
		t.Fatalf("a Secret has an unkeyed digest %q", plain)
	}
	mapping, err := client.Mapper.Mapping(context.Background(), s.GroupVersionKind())
	if err != nil {
		t.Fatal(err)
	}
	live, _, err := client.Apply(context.Background(), mapping, kube.WithDigest(s, digest), kube.ApplyOptions{FieldManager: "envctl"})
	if err != nil {
		t.Fatal(err)
	}
	prev := &inventory.Inventory{Environment: env, Components: []string{"app"}, Entries: []inventory.Entry{
		{Ref: object.RefOf(s), Component: "app", Digest: digest, Fields: kube.FieldsHash(live, "envctl")},
	}}
	rendered := &render.Result{Environment: env, Components: []*render.Component{{Name: "app", Objects: []*unstructured.Unstructured{s}}}}

	for _, tt := range []struct {
		name     string
		key      []byte
		dryRuns  int
		requests int
	}{
		{name: "with the key", key: key, dryRuns: 0, requests: 1},
		{name: "without the key", key: nil, dryRuns: 1, requests: 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := counter.Snapshot()
			p, err := plan.Compute(t.Context(), client, writerWithKey(client, tt.key), rendered, plan.Options{Environment: env, Previous: prev})
			if err != nil {
				t.Fatal(err)
			}
			if p.HasChanges() || p.Count(plan.Unchanged) != 1 {
				t.Errorf("plan of an applied Secret: %+v", p.Items)
			}
			d := counter.Snapshot().Sub(before)
			if d.Writes != tt.dryRuns || d.Requests != tt.requests {
				t.Errorf("%d requests, %d dry-runs %v; want %d and %d", d.Requests, d.Writes, d.WritePaths, tt.requests, tt.dryRuns)
			}
		})
	}
}

// writerWithKey is the writer an apply would use, with the cluster's
// fingerprint key (nil: none).
func writerWithKey(client *kube.Client, key []byte) *apply.Manager {
	w := apply.NewManager(client, apply.ManagerOptions{})
	w.UseSecretKey(key)
	return w
}
