package git

import (
	"context"
	"strings"
	"testing"

	"github.com/envctl/envctl/internal/source/git/gittest"
)

// TestSubmodules serves a repository with a submodule (a relative URL, as
// .gitmodules usually has): refused by default, fetched and written with
// RecurseSubmodules.
func TestSubmodules(t *testing.T) {
	f := newFixture(t, gittest.HTTPOptions{})
	charts := gittest.NewRepo(t, f.root, "charts.git")
	charts.Write(map[string]string{"app/Chart.yaml": "name: app\n"})
	chartsCommit := charts.Commit("chart")
	f.repo.Write(map[string]string{"config.yaml": "v: 1\n"})
	f.repo.Commit("first")
	f.repo.Git("-c", "protocol.file.allow=always", "submodule", "add", "-q", "../charts.git", "vendor/charts")
	parent := f.repo.Commit("add the charts submodule")

	_, err := f.source(nil).Snapshot(context.Background())
	if err == nil || !strings.Contains(err.Error(), `"vendor/charts"`) || !strings.Contains(err.Error(), "--recurse-submodules") {
		t.Fatalf("Snapshot without --recurse-submodules = %v, want a refusal naming vendor/charts", err)
	}
	snap := f.snapshot(f.source(func(o *Options) { o.RecurseSubmodules = true }))
	if snap.Revision != "main@sha1:"+parent {
		t.Errorf("revision %s", snap.Revision)
	}
	if got := read(t, snap, "vendor/charts/app/Chart.yaml"); got != "name: app\n" {
		t.Errorf("the submodule's file holds %q (submodule commit %s)", got, chartsCommit)
	}
	// The snapshot, reused by a run without the flag, is still refused.
	if _, err := f.source(nil).Snapshot(context.Background()); err == nil || !strings.Contains(err.Error(), "--recurse-submodules") {
		t.Errorf("reusing a snapshot with submodules without the flag: %v", err)
	}
}
