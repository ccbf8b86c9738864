package engine

import (
	"context"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// An aggregated ClusterRole as charts and kustomize bases write it: an
// aggregationRule and the customary `rules: []`. The
// clusterrole-aggregation-controller fills .rules from the ClusterRoles the
// rule selects; a second reconcile must leave them to it, writing nothing
// and reporting no conflict.
func TestAggregatedClusterRoleIsLeftToItsController(t *testing.T) {
	f := newFixture(t)
	role := "agg-" + f.ns
	const label = "envctl.dev/test-aggregate-to"
	f.component("rbac", nil,
		fmt.Sprintf(`{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":%q},
		  "aggregationRule":{"clusterRoleSelectors":[{"matchLabels":{%q:%q}}]},"rules":[]}`, role, label, f.ns),
		fmt.Sprintf(`{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":%q,"labels":{%q:%q}},
		  "rules":[{"apiGroups":[""],"resources":["configmaps"],"verbs":["get","list"]}]}`, role+"-part", label, f.ns),
	)
	t.Cleanup(func() {
		for _, n := range []string{role, role + "-part"} {
			_ = f.client.Clientset.RbacV1().ClusterRoles().Delete(context.Background(), n, metav1.DeleteOptions{})
		}
	})
	if _, err, _ := f.reconcile(); err != nil {
		t.Fatalf("first reconcile: %v", err)
	}
	// Wait for the controller to aggregate, as it does right after the
	// first apply on any cluster.
	deadline := time.Now().Add(30 * time.Second)
	for {
		cr, err := f.client.Clientset.RbacV1().ClusterRoles().Get(context.Background(), role, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(cr.Rules) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the aggregation controller did not fill ClusterRole %s within 30s: rules %v", role, cr.Rules)
		}
		time.Sleep(100 * time.Millisecond)
	}

	res, err, reqs := f.reconcile()
	if err != nil {
		t.Fatalf("second reconcile: %v", err)
	}
	if reqs.Writes != 0 {
		t.Errorf("second reconcile made %d writes, want 0: %v", reqs.Writes, reqs.WritePaths)
	}
	if got := res.Components[0].Counts; got != (Counts{Unchanged: 2}) {
		t.Errorf("second reconcile counts = %+v, want 2 unchanged", got)
	}
	cr, err := f.client.Clientset.RbacV1().ClusterRoles().Get(context.Background(), role, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cr.Rules) != 1 {
		t.Errorf("aggregated rules after the second reconcile = %v, want the one rule of %s-part", cr.Rules, role)
	}
}
