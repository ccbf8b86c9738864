package e2e

import (
	"fmt"
	"slices"
	"syscall"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// TestChartGatedOnACRDIsKeptByApplySyncAndApply: a chart emits its Widget
// only where the cluster serves the Widget API. apply, then a sync, then
// apply again all render it for the cluster, as the upgrade it is once
// installed: the sync neither prunes the Widget nor loses it from its
// render, and the apply after it has nothing to write.
func TestChartGatedOnACRDIsKeptByApplySyncAndApply(t *testing.T) {
	r := newRepo(t)
	r.applyWidgetCRD()
	r.chart()

	if n := r.writes("apply", r.env); n == 0 {
		t.Errorf("the first apply wrote nothing")
	}
	w, err := r.widget()
	if err != nil {
		t.Fatalf("apply did not apply the Widget the chart emits for a cluster that serves it: %v", err)
	}
	if v, err := r.isUpgrade(); err != nil || v != "false" {
		t.Errorf("after the first apply .Release.IsUpgrade = %q (%v), want false", v, err)
	}

	rr, rec := r.recorder()
	since := time.Now()
	p := rr.start("sync", r.env)
	r.reconciled(p, since)
	got := renders(t, rec)
	if len(got) == 0 {
		t.Fatal("the sync recorded no render")
	}
	if c := got[0]; c.Component != "chart" || c.Objects != withWidget || !c.Upgrade {
		t.Errorf("the sync rendered %v, want the chart's %d objects, the Widget among them, as an upgrade", c, withWidget)
	}
	if v, err := r.isUpgrade(); err != nil || v != "true" {
		t.Errorf("after the sync .Release.IsUpgrade = %q (%v), want true", v, err)
	}
	if code, _ := p.stop(syscall.SIGTERM, 10*time.Second); code != 0 {
		t.Errorf("sync exit %d after SIGTERM", code)
	}
	after, err := r.widget()
	if err != nil {
		t.Fatalf("the sync pruned the Widget: %v", err)
	}
	if after.GetResourceVersion() != w.GetResourceVersion() {
		t.Errorf("the sync rewrote the Widget (resourceVersion %s, was %s)", after.GetResourceVersion(), w.GetResourceVersion())
	}

	if n := r.writes("apply", r.env); n != 0 {
		t.Errorf("apply after the sync made %d writes, want 0: they render alike", n)
	}
}

// TestSyncFirstRenderIsAnInstallThenAnUpgrade: an environment driven only
// by sync renders its chart as an install at first, and, once the release
// is installed, the next render (a file of the repository changed) is an
// upgrade, which the applied ConfigMap shows.
func TestSyncFirstRenderIsAnInstallThenAnUpgrade(t *testing.T) {
	r := newRepo(t)
	r.chart()
	rr, rec := r.recorder()
	since := time.Now()
	p := rr.start("sync", r.env)
	r.reconciled(p, since)
	if got := renders(t, rec); len(got) == 0 || got[0].Upgrade {
		t.Fatalf("the sync's renders: %v, want the first an install", got)
	}
	if v, err := r.isUpgrade(); err != nil || v != "false" {
		t.Errorf("after the first reconcile .Release.IsUpgrade = %q (%v), want false", v, err)
	}

	r.write("NOTES.md", "A change the loop sees.\n")
	eventually(t, 30*time.Second, "the next render to apply an upgrade", func() error {
		if v, err := r.isUpgrade(); err != nil || v != "true" {
			return fmt.Errorf(".Release.IsUpgrade = %q (%v)", v, err)
		}
		return nil
	})
	// Every render after the first (the release installed) is an upgrade.
	got := renders(t, rec)
	if len(got) < 2 || slices.ContainsFunc(got[1:], func(c rendered) bool { return !c.Upgrade }) {
		t.Errorf("the sync's renders: %v, want an install, then upgrades", got)
	}
	if code, _ := p.stop(syscall.SIGTERM, 10*time.Second); code != 0 {
		t.Errorf("sync exit %d after SIGTERM", code)
	}
}

// TestSyncRendersAgainWhenTheClusterStartsServingACRD: a CRD applied out of
// band while a sync runs makes the loop render again, with no new revision,
// and apply the Widget the chart now emits.
func TestSyncRendersAgainWhenTheClusterStartsServingACRD(t *testing.T) {
	r := newRepo(t)
	r.chart()
	rr, rec := r.recorder()
	since := time.Now()
	p := rr.start("sync", r.env)
	r.reconciled(p, since)
	if got := renders(t, rec); len(got) == 0 || got[0].Objects != chartObjects {
		t.Fatalf("the sync's renders: %v, want the first of %d objects, no Widget", got, chartObjects)
	}
	revision := r.status().LastAppliedRevision

	r.applyWidgetCRD()
	eventually(t, 30*time.Second, "the sync to apply the Widget", func() error {
		if p.exited() {
			t.Fatalf("sync exited with %d:\n%s", p.code, p.err)
		}
		_, err := r.widget()
		return err
	})
	got := renders(t, rec)
	if last := got[len(got)-1]; last.Objects != withWidget {
		t.Errorf("the sync's last render: %v, want %d objects, the Widget among them", last, withWidget)
	}
	r.reconciled(p, since)
	if st := r.status(); st.LastAppliedRevision != revision {
		t.Errorf("applied revision %s, want %s unchanged", st.LastAppliedRevision, revision)
	}
	if code, _ := p.stop(syscall.SIGTERM, 10*time.Second); code != 0 {
		t.Errorf("sync exit %d after SIGTERM", code)
	}
	if _, err := r.widget(); apierrors.IsNotFound(err) {
		t.Error("the Widget is gone after the sync stopped")
	}
}
