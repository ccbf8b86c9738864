package manifests

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/envctl/envctl/internal/object"
	"github.com/envctl/envctl/internal/render"
)

// Resource is one kind of object the daemon applies and prunes, as RBAC
// names it: an API group and a resource (the plural).
type Resource struct {
	Group    string `json:"group"`
	Resource string `json:"resource"`
}

func (r Resource) String() string {
	if r.Group == "" {
		return r.Resource
	}
	return r.Resource + "." + r.Group
}

// manageVerbs are what apply (server-side apply, dry-runs, recreation),
// the health wait, prune and the daemon's watches do to declared objects.
var manageVerbs = []string{"get", "list", "watch", "create", "update", "patch", "delete"}

// readVerbs are for objects the daemon only looks at.
var readVerbs = []string{"get", "list", "watch"}

// Mapper maps a kind to its resource; *kube.Mapper is one, from the
// cluster's discovery.
type Mapper interface {
	Mapping(ctx context.Context, gvk schema.GroupVersionKind) (*meta.RESTMapping, error)
}

// ResourcesOf lists, sorted, the resources of every object and hook an
// environment renders. A kind's plural comes from a CRD of the render that
// defines it, else from mapper (nil offline), else from the conventional
// lower-case plural, which is right for every kind Kubernetes itself
// serves.
func ResourcesOf(ctx context.Context, res *render.Result, mapper Mapper) ([]Resource, error) {
	var objs []*unstructured.Unstructured
	for _, c := range res.Components {
		objs = append(objs, c.Objects...)
		for _, h := range c.Hooks {
			objs = append(objs, h.Object)
		}
	}
	crds := map[schema.GroupKind]string{}
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		if gvk.Group != "apiextensions.k8s.io" || gvk.Kind != "CustomResourceDefinition" {
			continue
		}
		group, _, _ := unstructured.NestedString(o.Object, "spec", "group")
		kind, _, _ := unstructured.NestedString(o.Object, "spec", "names", "kind")
		plural, _, _ := unstructured.NestedString(o.Object, "spec", "names", "plural")
		if kind != "" && plural != "" {
			crds[schema.GroupKind{Group: group, Kind: kind}] = plural
		}
	}
	seen := map[Resource]bool{}
	var failed []error
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		r, err := resourceOf(ctx, gvk, crds, mapper)
		if err != nil {
			failed = append(failed, fmt.Errorf("%s: %w", object.RefOf(o), err))
			continue
		}
		seen[r] = true
	}
	if len(failed) > 0 {
		return nil, errors.Join(failed...)
	}
	out := make([]Resource, 0, len(seen))
	for r := range seen {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Resource) int {
		return cmp.Or(cmp.Compare(a.Group, b.Group), cmp.Compare(a.Resource, b.Resource))
	})
	return out, nil
}

func resourceOf(ctx context.Context, gvk schema.GroupVersionKind, crds map[schema.GroupKind]string, mapper Mapper) (Resource, error) {
	gk := gvk.GroupKind()
	if plural, ok := crds[gk]; ok {
		return Resource{Group: gk.Group, Resource: plural}, nil
	}
	if mapper != nil {
		m, err := mapper.Mapping(ctx, gvk)
		if err == nil {
			return Resource{Group: gk.Group, Resource: m.Resource.Resource}, nil
		}
		if !meta.IsNoMatchError(err) {
			return Resource{}, fmt.Errorf("find the resource of kind %s: %w", gk, err)
		}
	}
	plural, _ := meta.UnsafeGuessKindToResource(gvk)
	return Resource{Group: gk.Group, Resource: plural.Resource}, nil
}

// rbacGroup is where Roles and ClusterRoles live. Creating or changing one
// that grants what the daemon does not hold itself, or binding one, needs
// the escalate and bind verbs: an environment that declares RBAC needs its
// daemon to be trusted that far.
const rbacGroup = "rbac.authorization.k8s.io"

// clusterRoleRules are the rules of the daemon's ClusterRole: manage every
// resource the environment renders, read what the health report explains
// failures with (Pods, ReplicaSets, Events), read Namespaces and the API
// definitions charts may be gated on (CRDs and APIServices, watched for a
// new render), and record Events.
func clusterRoleRules(o Options) []rbacv1.PolicyRule {
	byGroup := map[string][]string{}
	escalate := false
	for _, r := range o.Resources {
		byGroup[r.Group] = append(byGroup[r.Group], r.Resource)
		if r.Group == rbacGroup && (r.Resource == "roles" || r.Resource == "clusterroles") {
			escalate = true
		}
	}
	groups := make([]string, 0, len(byGroup))
	for g := range byGroup {
		groups = append(groups, g)
	}
	slices.Sort(groups)
	var rules []rbacv1.PolicyRule
	for _, g := range groups {
		res := slices.Compact(slices.Sorted(slices.Values(byGroup[g])))
		rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{g}, Resources: res, Verbs: manageVerbs})
	}
	if escalate {
		rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{rbacGroup}, Resources: []string{"clusterroles", "roles"}, Verbs: []string{"bind", "escalate"}})
	}
	rules = append(rules,
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"events", "namespaces", "pods"}, Verbs: readVerbs},
		rbacv1.PolicyRule{APIGroups: []string{"apps"}, Resources: []string{"replicasets"}, Verbs: readVerbs},
		rbacv1.PolicyRule{APIGroups: []string{"apiextensions.k8s.io"}, Resources: []string{"customresourcedefinitions"}, Verbs: readVerbs},
		rbacv1.PolicyRule{APIGroups: []string{"apiregistration.k8s.io"}, Resources: []string{"apiservices"}, Verbs: readVerbs},
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
		rbacv1.PolicyRule{APIGroups: []string{"events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
	)
	return rules
}

// roleRules are the rules of the daemon's Role in Namespace: the
// inventories (ConfigMaps) and Secrets envctl keeps there, and the Lease
// of leader election.
func roleRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"configmaps", "secrets"}, Verbs: manageVerbs},
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: manageVerbs},
	}
}

func clusterRole(o Options) *rbacv1.ClusterRole {
	m := objectMeta(o, Name(o.Environment))
	m.Namespace = ""
	return &rbacv1.ClusterRole{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole"},
		ObjectMeta: m,
		Rules:      clusterRoleRules(o),
	}
}

func subject(o Options) []rbacv1.Subject {
	return []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: Name(o.Environment), Namespace: Namespace}}
}

func clusterRoleBinding(o Options) *rbacv1.ClusterRoleBinding {
	m := objectMeta(o, Name(o.Environment))
	m.Namespace = ""
	return &rbacv1.ClusterRoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRoleBinding"},
		ObjectMeta: m,
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacGroup, Kind: "ClusterRole", Name: Name(o.Environment)},
		Subjects:   subject(o),
	}
}

func role(o Options) *rbacv1.Role {
	return &rbacv1.Role{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"},
		ObjectMeta: objectMeta(o, Name(o.Environment)),
		Rules:      roleRules(),
	}
}

func roleBinding(o Options) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"},
		ObjectMeta: objectMeta(o, Name(o.Environment)),
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacGroup, Kind: "Role", Name: Name(o.Environment)},
		Subjects:   subject(o),
	}
}
