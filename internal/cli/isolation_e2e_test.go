package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/envctl/envctl/internal/daemon/manifests"
	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/lease"
	"github.com/envctl/envctl/internal/syncstate"
	"github.com/envctl/envctl/internal/testenv"
)

// isolatedEnvResources is an environment that renders what would reach
// another environment's state if the daemon's grants were cluster-wide: a
// Secret and ConfigMaps, and RBAC of its own (a Role and a ClusterRole,
// each bound).
func isolatedEnvResources(env string) map[string]string {
	return map[string]string{
		"namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: NS\n",
		"secret.yaml":    "apiVersion: v1\nkind: Secret\nmetadata:\n  name: app\n  namespace: NS\nstringData:\n  token: not-a-real-one\n",
		"configmap.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: NS\ndata:\n  mode: test\n",
		"rbac.yaml": `apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: reader, namespace: NS}
rules:
  - {apiGroups: [""], resources: [configmaps], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: reader, namespace: NS}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}
subjects: [{kind: ServiceAccount, name: default, namespace: NS}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: ` + env + `-viewer}
rules:
  - {apiGroups: [""], resources: [namespaces], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: ` + env + `-viewer}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: ` + env + `-viewer}
subjects: [{kind: ServiceAccount, name: default, namespace: NS}]
`,
	}
}

// access is one request a daemon's ServiceAccount may or may not make.
type access struct {
	verb, group, resource, namespace, name string
}

func (a access) String() string {
	r := a.resource
	if a.group != "" {
		r += "." + a.group
	}
	s := a.verb + " " + r
	if a.name != "" {
		s += " " + a.name
	}
	if a.namespace != "" {
		s += " in " + a.namespace
	}
	return s
}

// allowed asks the API server's authorizer, through a SubjectAccessReview,
// whether the daemon of env may make request a.
func allowed(t *testing.T, env string, a access) bool {
	t.Helper()
	ns := manifests.Namespace(env)
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:   "system:serviceaccount:" + ns + ":" + manifests.Name(env),
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Verb: a.verb, Group: a.group, Resource: a.resource, Namespace: a.namespace, Name: a.name,
		},
	}}
	out, err := testenv.Get(t).Clientset().AuthorizationV1().SubjectAccessReviews().Create(t.Context(), sar, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("SubjectAccessReview %s: %v", a, err)
	}
	return out.Status.Allowed
}

// TestDaemonsAreIsolated installs the daemons of two environments in one
// cluster with `envctl daemon install`, one of them over the state an
// earlier envctl kept in envctl-system, and shows through
// SubjectAccessReviews that each daemon's ServiceAccount may read and
// write its own environment's inventory, Lease and sync record and none
// of the other's (nor its credentials), may bind and escalate only the
// roles its environment declares, and that each daemon applies its
// environment as before.
func TestDaemonsAreIsolated(t *testing.T) {
	te := testenv.Get(t)
	cs := te.Clientset()
	ctx := t.Context()
	a, b := newE2E(t, "isoa"), newE2E(t, "isob")
	for _, e := range []*e2e{a, b} {
		e.overlay(isolatedEnvResources(e.env), "")
		t.Cleanup(func() {
			ctx := context.Background()
			rbac := cs.RbacV1()
			_ = cs.CoreV1().Namespaces().Delete(ctx, manifests.Namespace(e.env), metav1.DeleteOptions{})
			for _, name := range []string{manifests.Name(e.env), manifests.NamespacedRole(e.env), e.env + "-viewer"} {
				_ = rbac.ClusterRoles().Delete(ctx, name, metav1.DeleteOptions{})
				_ = rbac.ClusterRoleBindings().Delete(ctx, name, metav1.DeleteOptions{})
			}
		})
	}

	// Environment a was applied by an envctl without a daemon: its
	// inventory is in envctl-system.
	a.mustRun(ExitOK, "apply")
	if _, err := cs.CoreV1().ConfigMaps(inventory.Namespace).Get(ctx, inventory.ConfigMapName(a.env, 0), metav1.GetOptions{}); err != nil {
		t.Fatalf("the inventory of %s before its daemon's install: %v, want it in %s", a.env, err, inventory.Namespace)
	}

	t.Setenv(envGitPassword, "isolation-e2e-git-token")
	for _, e := range []*e2e{a, b} {
		e.mustRun(ExitOK, "daemon", "install", e.env, "--git", "https://git.example.invalid/"+e.env+".git", "--branch", "main",
			"--git-username", "bot", "--image", "registry.example/envctl:test", "--kubeconfig", e.kubeconfig, "--timeout", "90s")
	}

	// The install moved a's inventory into a's namespace, and the
	// commands find it there.
	if _, err := cs.CoreV1().ConfigMaps(inventory.Namespace).Get(ctx, inventory.ConfigMapName(a.env, 0), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the inventory of %s is still in %s after the install: %v", a.env, inventory.Namespace, err)
	}
	if _, err := cs.CoreV1().ConfigMaps(manifests.Namespace(a.env)).Get(ctx, inventory.ConfigMapName(a.env, 0), metav1.GetOptions{}); err != nil {
		t.Errorf("the inventory of %s is not in %s after the install: %v", a.env, manifests.Namespace(a.env), err)
	}
	out, _ := a.mustRun(ExitOK, "status")
	mustContain(t, "status after the move", out, "Environment "+a.env+": revision", "ConfigMap "+a.ns+"/settings")

	// Each daemon applies its environment as its own ServiceAccount; a's
	// finds its moved inventory and writes nothing.
	for _, e := range []*e2e{a, b} {
		asDaemon := impersonating(t, e.kubeconfig, "system:serviceaccount:"+manifests.Namespace(e.env)+":"+manifests.Name(e.env))
		stdout, stderr := e.mustRun(ExitOK, "apply", "--kubeconfig", asDaemon, "--timeout", "90s")
		if e == a && !strings.Contains(stdout, " 0 writes") {
			t.Errorf("apply of %s as its daemon after the move wrote:\n%s%s", e.env, stdout, stderr)
		}
		if _, err := cs.CoordinationV1().Leases(manifests.Namespace(e.env)).Get(ctx, lease.Name(e.env), metav1.GetOptions{}); err != nil {
			t.Errorf("the Lease of %s is not in its namespace: %v", e.env, err)
		}
	}

	for _, pair := range [][2]*e2e{{a, b}, {b, a}} {
		self, other := pair[0].env, pair[1].env
		own, theirs := manifests.Namespace(self), manifests.Namespace(other)
		may := []access{
			{"update", "", "configmaps", own, inventory.ConfigMapName(self, 0)},
			{"create", "", "configmaps", own, ""},
			{"patch", "", "configmaps", own, syncstate.ConfigMapName(self)},
			{"update", "coordination.k8s.io", "leases", own, lease.Name(self)},
			{"get", "", "secrets", inventory.Namespace, inventory.KeySecret},
			// Its environment renders a Secret in its own namespace.
			{"get", "", "secrets", pair[0].ns, "app"},
			{"bind", "rbac.authorization.k8s.io", "clusterroles", "", self + "-viewer"},
			{"escalate", "rbac.authorization.k8s.io", "clusterroles", "", self + "-viewer"},
			{"bind", "rbac.authorization.k8s.io", "roles", pair[0].ns, "reader"},
		}
		mayNot := []access{
			{"get", "", "secrets", theirs, manifests.Name(other) + "-credentials"},
			{"list", "", "secrets", theirs, ""},
			{"get", "", "configmaps", theirs, inventory.ConfigMapName(other, 0)},
			{"list", "", "configmaps", theirs, ""},
			{"update", "", "configmaps", theirs, inventory.ConfigMapName(other, 0)},
			{"delete", "", "configmaps", theirs, inventory.ConfigMapName(other, 0)},
			{"create", "", "configmaps", theirs, ""},
			{"patch", "", "configmaps", theirs, syncstate.ConfigMapName(other)},
			{"update", "coordination.k8s.io", "leases", theirs, lease.Name(other)},
			{"delete", "coordination.k8s.io", "leases", theirs, lease.Name(other)},
			// Nor run a pod there as the other daemon.
			{"create", "", "pods", theirs, ""},
			{"create", "apps", "deployments", theirs, ""},
			// Nor the other environment's own objects.
			{"get", "", "secrets", pair[1].ns, "app"},
			// Nor what envctl-system still holds.
			{"list", "", "configmaps", inventory.Namespace, ""},
			{"list", "", "secrets", inventory.Namespace, ""},
			{"update", "", "secrets", inventory.Namespace, inventory.KeySecret},
			// Its own credentials are mounted, never read through the API.
			{"get", "", "secrets", own, manifests.Name(self) + "-credentials"},
			// bind and escalate only the roles its environment declares.
			{"bind", "rbac.authorization.k8s.io", "clusterroles", "", "cluster-admin"},
			{"escalate", "rbac.authorization.k8s.io", "clusterroles", "", "cluster-admin"},
			{"bind", "rbac.authorization.k8s.io", "clusterroles", "", other + "-viewer"},
			{"escalate", "rbac.authorization.k8s.io", "roles", pair[0].ns, "admin"},
		}
		for _, r := range may {
			if !allowed(t, self, r) {
				t.Errorf("the daemon of %s may not %s", self, r)
			}
		}
		for _, r := range mayNot {
			if allowed(t, self, r) {
				t.Errorf("the daemon of %s may %s", self, r)
			}
		}
	}

	// The daemon's namespace enforces the restricted Pod Security
	// Standard, which the daemon's own pod meets and a privileged one
	// does not.
	ns, err := cs.CoreV1().Namespaces().Get(ctx, manifests.Namespace(a.env), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted",
		"pod-security.kubernetes.io/audit":   "restricted",
		"pod-security.kubernetes.io/warn":    "restricted",
		inventory.LabelStateOf:               a.env,
	} {
		if ns.Labels[k] != v {
			t.Errorf("namespace %s label %s=%q, want %q", ns.Name, k, ns.Labels[k], v)
		}
	}
	d, err := cs.AppsV1().Deployments(ns.Name).Get(ctx, manifests.Name(a.env), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "daemon-like", Namespace: ns.Name}, Spec: d.Spec.Template.Spec}
	if _, err := cs.CoreV1().Pods(ns.Name).Create(ctx, pod, dry); err != nil {
		t.Errorf("the daemon's pod is refused in its namespace: %v", err)
	}
	privileged := true
	pod = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "privileged", Namespace: ns.Name}, Spec: corev1.PodSpec{
		Containers: []corev1.Container{{Name: "c", Image: "registry.example/c:1", SecurityContext: &corev1.SecurityContext{Privileged: &privileged}}},
	}}
	if _, err := cs.CoreV1().Pods(ns.Name).Create(ctx, pod, dry); err == nil || !strings.Contains(err.Error(), "PodSecurity") {
		t.Errorf("a privileged pod in %s: %v, want it refused by PodSecurity", ns.Name, err)
	}
}

// TestDaemonInstallWithServiceAccount installs a daemon that writes its
// environment as a tenant's service account: the daemon's own
// ServiceAccount may impersonate that account and no other, and holds
// none of the environment's kinds; an environment file that names
// another account is refused.
func TestDaemonInstallWithServiceAccount(t *testing.T) {
	te := testenv.Get(t)
	cs := te.Clientset()
	ctx := t.Context()
	e := newE2E(t, "isosa")
	e.overlay(map[string]string{
		"namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: NS\n",
		"configmap.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: NS\ndata:\n  mode: test\n",
	}, "")
	t.Cleanup(func() {
		ctx := context.Background()
		_ = cs.CoreV1().Namespaces().Delete(ctx, manifests.Namespace(e.env), metav1.DeleteOptions{})
		_ = cs.CoreV1().Namespaces().Delete(ctx, "isosa-tenant", metav1.DeleteOptions{})
		for _, name := range []string{manifests.Name(e.env), manifests.NamespacedRole(e.env)} {
			_ = cs.RbacV1().ClusterRoles().Delete(ctx, name, metav1.DeleteOptions{})
			_ = cs.RbacV1().ClusterRoleBindings().Delete(ctx, name, metav1.DeleteOptions{})
		}
	})
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "isosa-tenant"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	install := []string{"daemon", "install", e.env, "--git", "https://git.example.invalid/isosa.git", "--branch", "main",
		"--image", "registry.example/envctl:test", "--kubeconfig", e.kubeconfig, "--no-wait", "--service-account", "isosa-tenant:deployer"}
	e.mustRun(ExitOK, install...)

	d, err := cs.AppsV1().Deployments(manifests.Namespace(e.env)).Get(ctx, manifests.Name(e.env), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if args := strings.Join(d.Spec.Template.Spec.Containers[0].Args, " "); !strings.Contains(args, "--service-account isosa-tenant:deployer") {
		t.Errorf("the daemon is not pinned to the service account: %s", args)
	}
	for _, r := range []access{
		{"impersonate", "", "serviceaccounts", "isosa-tenant", "deployer"},
		{"update", "", "configmaps", manifests.Namespace(e.env), inventory.ConfigMapName(e.env, 0)},
	} {
		if !allowed(t, e.env, r) {
			t.Errorf("the daemon of %s may not %s", e.env, r)
		}
	}
	for _, r := range []access{
		{"impersonate", "", "serviceaccounts", "isosa-tenant", "admin"},
		{"impersonate", "", "serviceaccounts", "kube-system", "deployer"},
		{"impersonate", "", "users", "", "admin"},
		{"patch", "", "configmaps", e.ns, "settings"},
		{"create", "", "namespaces", "", ""},
	} {
		if allowed(t, e.env, r) {
			t.Errorf("the daemon of %s, which writes as isosa-tenant:deployer, may %s", e.env, r)
		}
	}

	// A file that names another account than the pinned one is refused,
	// naming both.
	file := filepath.Join(e.repo, "environments", e.env+".yaml")
	body, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	e.write("environments/"+e.env+".yaml", strings.Replace(string(body), "  components:", "  serviceAccountName: kube-system:admin\n  components:", 1))
	_, stderr := e.mustRun(ExitInput, install...)
	mustContain(t, "install with another account in the file", stderr, "spec.serviceAccountName kube-system:admin", "isosa-tenant:deployer")
}
