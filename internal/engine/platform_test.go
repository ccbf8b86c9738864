package engine

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/kube"
	"github.com/envctl/envctl/internal/source"
)

// TestReconcileCIPlatform brings the repository's own ci environment (the
// ML platform under bases/ and overlays/, Helm chart and hooks included) up
// on the test cluster from nothing, then checks that running it again
// writes nothing.
func TestReconcileCIPlatform(t *testing.T) {
	cfg, counter := kube.CountingConfig(testConfig(t))
	client, err := kube.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	d, err := LoadSnapshot(mustLocal(t, filepath.Join("..", "..")), LoadOptions{
		Source:      source.Dir{Path: filepath.Join("..", "..")},
		Environment: "ci",
		Config:      config.LoadOptions{LookupEnv: func(string) (string, bool) { return "", false }},
	})
	if err != nil {
		t.Fatal(err)
	}
	eng := New(Config{Client: client})
	req := Request{Declared: d}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	start := time.Now()
	res, err := eng.Reconcile(ctx, req)
	if err != nil {
		t.Fatalf("first reconcile: %v", err)
	}
	first := counter.Snapshot()
	t.Logf("ci from nothing to healthy in %v (%d requests, %d writes)", time.Since(start).Round(time.Millisecond), first.Requests, first.Writes)
	objects := 0
	for _, c := range res.Components {
		objects += len(c.Changes)
		if c.State != Healthy {
			t.Errorf("component %s is %s: %s", c.Name, c.State, c.Reason)
		}
		if c.Counts.Created != len(c.Changes) {
			t.Errorf("component %s: %+v, want every object created", c.Name, c.Counts)
		}
	}
	if objects == 0 {
		t.Fatal("the ci environment rendered no objects")
	}

	start = time.Now()
	res, err = eng.Reconcile(ctx, req)
	if err != nil {
		t.Fatalf("second reconcile: %v", err)
	}
	second := counter.Snapshot().Sub(first)
	t.Logf("ci again: %v (%d requests, %d writes)", time.Since(start).Round(time.Millisecond), second.Requests, second.Writes)
	if second.Writes != 0 {
		t.Errorf("second reconcile of ci wrote %d times: %v", second.Writes, second.WritePaths)
	}
	// The live objects of every component are read together: one LIST per
	// kind, plus the inventory's load and the read of the Secret
	// fingerprints' key; an unchanged inventory is not saved.
	kinds := map[schema.GroupVersionKind]bool{}
	for _, c := range res.Components {
		for _, ch := range c.Changes {
			kinds[ch.Ref.GroupVersionKind()] = true
		}
	}
	if want := len(kinds) + 2; second.Requests > want {
		t.Errorf("second reconcile of ci made %d requests (%v), want at most %d: one LIST for each of its %d kinds, one for the inventory and one for the fingerprint key", second.Requests, second.ByMethod, want, len(kinds))
	}
	for _, c := range res.Components {
		if c.Counts.Unchanged != len(c.Changes) || c.State != Healthy {
			t.Errorf("second reconcile: component %s %s %+v", c.Name, c.State, c.Counts)
		}
	}
}

// mustLocal is the snapshot of a local directory.
func mustLocal(t testing.TB, dir string) *source.Snapshot {
	t.Helper()
	snap, err := source.Local(dir)
	if err != nil {
		t.Fatal(err)
	}
	return snap
}
