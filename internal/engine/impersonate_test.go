package engine

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/inventory"
)

// tenant makes service account tenant in ns, allowed to do anything with
// ConfigMaps in ns and nothing else, and returns NAMESPACE:NAME.
func tenant(t *testing.T, f *fixture) string {
	t.Helper()
	ctx := context.Background()
	cs := f.client.Clientset
	if _, err := cs.CoreV1().ServiceAccounts(f.ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "tenant"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "tenant"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"*"}},
	}}
	if _, err := cs.RbacV1().Roles(f.ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "tenant"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "tenant"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "tenant", Namespace: f.ns}}}
	if _, err := cs.RbacV1().RoleBindings(f.ns).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return f.ns + ":tenant"
}

// An environment applied as a tenant's service account that declares an
// object beyond the account's RBAC fails before anything is written,
// naming the object; within its RBAC it applies, and envctl's own records
// are still written (as envctl, which the tenant could not).
func TestImpersonatedApplyStaysWithinRBAC(t *testing.T) {
	f := newFixture(t)
	other := testNamespace(t)
	sa := tenant(t, f)
	asTenant, err := Impersonate(f.client, sa)
	if err != nil {
		t.Fatal(err)
	}
	impersonate := func(o *runOptions) {
		o.Client, o.State, o.ServiceAccount = asTenant, f.client.Clientset, sa
	}
	f.component("app", nil,
		"{apiVersion: v1, kind: ConfigMap, metadata: {name: mine, namespace: NS}, data: {a: b}}",
		"{apiVersion: v1, kind: ConfigMap, metadata: {name: theirs, namespace: "+other+"}, data: {a: b}}",
		"{apiVersion: v1, kind: Secret, metadata: {name: creds, namespace: NS}, stringData: {a: b}}",
	)
	_, err, _ = f.reconcile(impersonate)
	if err == nil {
		t.Fatal("a reconcile beyond the service account's RBAC succeeded")
	}
	if errs.KindOf(err) != errs.KindInput {
		t.Errorf("error kind %v, want bad input: %v", errs.KindOf(err), err)
	}
	for _, w := range []string{"service account " + sa, "ConfigMap " + other + "/theirs (patch, create)", "Secret " + f.ns + "/creds (patch, create)",
		"Secret in " + f.ns + " (list)", "ConfigMap in " + other + " (list)", "nothing was applied"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not say %q: %v", w, err)
		}
	}
	if strings.Contains(err.Error(), "/mine") {
		t.Errorf("error names the object the account may write: %v", err)
	}
	if _, err := f.get(configMaps, f.ns, "mine"); !apierrors.IsNotFound(err) {
		t.Errorf("ConfigMap mine after the refused reconcile: %v, want none written", err)
	}
	if _, err := inventory.NewStore(f.client.Clientset).Load(context.Background(), f.name); err == nil {
		t.Error("the refused reconcile stored an inventory")
	}

	// Within its RBAC: applied as the tenant, recorded as envctl.
	f.component("app", nil, "{apiVersion: v1, kind: ConfigMap, metadata: {name: mine, namespace: NS}, data: {a: b}}")
	if _, err, _ := f.reconcile(impersonate); err != nil {
		t.Fatalf("reconcile within the service account's RBAC: %v", err)
	}
	if _, err := f.get(configMaps, f.ns, "mine"); err != nil {
		t.Errorf("ConfigMap mine: %v", err)
	}
	if inv, err := inventory.NewStore(f.client.Clientset).Load(context.Background(), f.name); err != nil || len(inv.Entries) != 1 {
		t.Errorf("inventory after the reconcile as the tenant: %v", err)
	}
}

// The service account is the operator's: an environment file that names
// another, or names one the engine was not told to act as, is refused.
func TestServiceAccountIsTheOperators(t *testing.T) {
	d := func(sa string) *Declared {
		return &Declared{Env: &config.Environment{Metadata: config.Metadata{Name: "tenant-a"}, Spec: config.EnvironmentSpec{ServiceAccountName: sa}}}
	}
	for _, tt := range []struct {
		pinned, declared string
		want             string
	}{
		{"", "", ""},
		{"team-a:deployer", "", ""},
		{"team-a:deployer", "team-a:deployer", ""},
		{"team-a:deployer", "kube-system:admin", "spec.serviceAccountName kube-system:admin is not the service account envctl was told to act as (team-a:deployer)"},
		{"", "kube-system:admin", "envctl daemon install tenant-a --service-account kube-system:admin"},
	} {
		e := &Engine{serviceAccount: tt.pinned}
		err := e.checkServiceAccount(d(tt.declared))
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("pinned %q, declared %q: %v", tt.pinned, tt.declared, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || errs.KindOf(err) != errs.KindInput):
			t.Errorf("pinned %q, declared %q: %v, want bad input saying %q", tt.pinned, tt.declared, err, tt.want)
		}
	}
}
