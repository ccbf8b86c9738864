package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/lease"
	"github.com/envctl/envctl/internal/ownership"
	"github.com/envctl/envctl/internal/syncstate"
)

// config names the repository (config.yaml's metadata.name), the identity
// its runs record in the environment's inventory.
func (r *repo) config(name string) {
	r.write("config.yaml", `apiVersion: envctl.dev/v1alpha1
kind: Config
metadata: {name: `+name+`}
spec:
  defaultEnvironment: `+r.env+`
  apply: {timeout: 60s}
`)
}

// sibling is another repository with an environment of r's name on r's
// cluster and namespace.
func (r *repo) sibling() *repo {
	r.t.Helper()
	s := *r
	s.dir, s.home, s.vars = r.t.TempDir(), r.t.TempDir(), nil
	data, err := os.ReadFile(filepath.Join(r.dir, "environments", r.env+".yaml"))
	if err != nil {
		r.t.Fatal(err)
	}
	s.write("environments/"+r.env+".yaml", string(data))
	return &s
}

// clusterState is what a run could write of an environment: its objects,
// its inventory, its lock and its loop's record, by resourceVersion.
func (r *repo) clusterState(names ...string) map[string]string {
	r.t.Helper()
	ctx := context.Background()
	cs := r.te.Clientset()
	out := map[string]string{}
	for _, n := range names {
		cm, err := cs.CoreV1().ConfigMaps(r.ns).Get(ctx, n, metav1.GetOptions{})
		if err != nil {
			r.t.Fatal(err)
		}
		out["ConfigMap "+n] = cm.ResourceVersion + " " + cm.Data["value"] + " " + cm.Labels[ownership.LabelEnvironment]
	}
	inv, err := cs.CoreV1().ConfigMaps(inventory.Namespace).Get(ctx, inventory.ConfigMapName(r.env, 0), metav1.GetOptions{})
	if err != nil {
		r.t.Fatal(err)
	}
	out["inventory"] = inv.ResourceVersion
	l, err := cs.CoordinationV1().Leases(inventory.Namespace).Get(ctx, lease.Name(r.env), metav1.GetOptions{})
	if err != nil {
		r.t.Fatal(err)
	}
	out["lock"] = l.ResourceVersion
	rec, err := (&syncstate.Store{Client: cs}).Get(ctx, r.env)
	if err != nil {
		r.t.Fatal(err)
	}
	out["sync record"] = "none"
	if rec != nil {
		out["sync record"] = rec.ResourceVersion
	}
	return out
}

// TestSyncAndDaemonRefuseAnEnvironmentOfAnotherRepository: repository A
// applied environment E; sync and daemon of an E from repository B stop at
// once with the conflict code, naming repo-a, and write nothing: not A's
// objects (which B declares otherwise, or not at all), not its inventory,
// not the lock, not a loop record.
func TestSyncAndDaemonRefuseAnEnvironmentOfAnotherRepository(t *testing.T) {
	a := newRepo(t)
	a.config("repo-a")
	a.configMaps("a", "from-a", "b", "from-a")
	if code, stdout, stderr := a.run("apply", a.env); code != 0 {
		t.Fatalf("apply from repo-a: exit %d\n%s%s", code, stdout, stderr)
	}
	before := a.clusterState("a", "b")

	b := a.sibling()
	b.config("repo-b")
	b.configMaps("a", "from-b")
	for _, args := range [][]string{
		{"sync", b.env},
		{"daemon", b.env, "--kubeconfig", b.kubeconfig, "--listen", freeAddr(t)},
	} {
		code, _, stderr := b.run(args...)
		if code != 5 || !strings.Contains(stderr, `applied from repository "repo-a"`) {
			t.Errorf("%s from repo-b: exit %d, want 5 and an error naming repo-a:\n%s", args[0], code, stderr)
		}
		after := a.clusterState("a", "b")
		for k, v := range before {
			if after[k] != v {
				t.Errorf("after the %s from repo-b, %s is %q, was %q", args[0], k, after[k], v)
			}
		}
	}
	inv, err := inventory.NewStore(a.te.Clientset()).Load(context.Background(), a.env)
	if err != nil {
		t.Fatal(err)
	}
	if inv.Repository != "repo-a" {
		t.Errorf("the inventory names repository %q, want repo-a", inv.Repository)
	}
}
