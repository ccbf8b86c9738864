package embedded_test

import (
	"context"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/testenv"
)

// Start waits until the authorizer allows the controller manager and the
// scheduler their first requests; the wait sees a binding made just before
// it, and gives up with a timeout naming what is still refused.
func TestStartWaitsForTheComponentsRBAC(t *testing.T) {
	te := testenv.Get(t)
	cp := te.ControlPlane()
	if err := cp.WaitComponentsAuthorized(t.Context(), "", authorizationv1.ResourceAttributes{}); err != nil {
		t.Fatalf("the running cluster's components are not authorized: %v", err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	err := cp.WaitComponentsAuthorized(ctx, "envctl-test-nobody", authorizationv1.ResourceAttributes{Verb: "delete", Resource: "nodes"})
	if errs.KindOf(err) != errs.KindTimeout || !strings.Contains(err.Error(), "does not authorize envctl-test-nobody to delete nodes") {
		t.Errorf("waiting for a user no role allows = %v (kind %v), want a timeout naming the user and the request", err, errs.KindOf(err))
	}

	rbac := te.Clientset().RbacV1()
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "envctl-test-node-reader"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get"}}},
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "envctl-test-node-reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: "envctl-test-reader"}},
	}
	if _, err := rbac.ClusterRoles().Create(t.Context(), role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rbac.ClusterRoles().Delete(context.Background(), role.Name, metav1.DeleteOptions{}) })
	if _, err := rbac.ClusterRoleBindings().Create(t.Context(), binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = rbac.ClusterRoleBindings().Delete(context.Background(), binding.Name, metav1.DeleteOptions{})
	})
	ctx, cancel = context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := cp.WaitComponentsAuthorized(ctx, "envctl-test-reader", authorizationv1.ResourceAttributes{Verb: "get", Resource: "nodes"}); err != nil {
		t.Errorf("waiting for a user bound just before: %v", err)
	}
}
