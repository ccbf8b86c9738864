package manifests

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/object"
	"github.com/envctl/envctl/internal/render"
)

// Resource is one kind of object the daemon applies and prunes, as RBAC
// names it: an API group and a resource (the plural).
type Resource struct {
	Group    string `json:"group"`
	Resource string `json:"resource"`
	// Namespaced resources are granted only in the namespaces the
	// environment renders into (Scope.Namespaces), never cluster-wide:
	// that would reach into the namespaces of other environments' state.
	Namespaced bool `json:"namespaced,omitempty"`
	// CustomResource is a kind whose CRD the environment declares: the
	// prune's CRD guard lists its objects cluster-wide.
	CustomResource bool `json:"customResource,omitempty"`
}

func (r Resource) String() string {
	if r.Group == "" {
		return r.Resource
	}
	return r.Resource + "." + r.Group
}

// Scope is what an environment renders, as the daemon's RBAC needs it.
type Scope struct {
	// Resources are the kinds, sorted.
	Resources []Resource
	// Namespaces are those the namespaced objects go in, sorted.
	Namespaces []string
	// Roles and ClusterRoles are the names of the roles the environment
	// declares, sorted: the only ones the daemon may bind or escalate.
	Roles, ClusterRoles []string
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

// ResourcesOf is ScopeOf's Resources.
func ResourcesOf(ctx context.Context, res *render.Result, mapper Mapper) ([]Resource, error) {
	sc, err := ScopeOf(ctx, res, mapper)
	return sc.Resources, err
}

// ScopeOf lists what every object and hook an environment renders needs
// of the daemon's RBAC. A kind's plural and scope come from a CRD of the
// render that defines it, else from mapper (nil offline), else from the
// conventional lower-case plural, which is right for every kind
// Kubernetes itself serves, and from whether its objects name a namespace.
func ScopeOf(ctx context.Context, res *render.Result, mapper Mapper) (Scope, error) {
	var objs []*unstructured.Unstructured
	for _, c := range res.Components {
		objs = append(objs, c.Objects...)
		for _, h := range c.Hooks {
			objs = append(objs, h.Object)
		}
	}
	crds := map[schema.GroupKind]crdKind{}
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		if gvk.Group != "apiextensions.k8s.io" || gvk.Kind != "CustomResourceDefinition" {
			continue
		}
		group, _, _ := unstructured.NestedString(o.Object, "spec", "group")
		kind, _, _ := unstructured.NestedString(o.Object, "spec", "names", "kind")
		plural, _, _ := unstructured.NestedString(o.Object, "spec", "names", "plural")
		scope, _, _ := unstructured.NestedString(o.Object, "spec", "scope")
		if kind != "" && plural != "" {
			crds[schema.GroupKind{Group: group, Kind: kind}] = crdKind{plural: plural, namespaced: scope != "Cluster"}
		}
	}
	seen := map[Resource]bool{}
	namespaces := map[string]bool{}
	var sc Scope
	var failed []error
	for _, o := range objs {
		r, err := resourceOf(ctx, o, crds, mapper)
		if err != nil {
			failed = append(failed, fmt.Errorf("%s: %w", object.RefOf(o), err))
			continue
		}
		seen[r] = true
		if r.Namespaced {
			namespaces[cmp.Or(o.GetNamespace(), "default")] = true
		}
		if r.Group == rbacGroup && r.Resource == "roles" {
			sc.Roles = append(sc.Roles, o.GetName())
		}
		if r.Group == rbacGroup && r.Resource == "clusterroles" {
			sc.ClusterRoles = append(sc.ClusterRoles, o.GetName())
		}
	}
	if len(failed) > 0 {
		return Scope{}, errors.Join(failed...)
	}
	for r := range seen {
		sc.Resources = append(sc.Resources, r)
	}
	slices.SortFunc(sc.Resources, func(a, b Resource) int {
		return cmp.Or(cmp.Compare(a.Group, b.Group), cmp.Compare(a.Resource, b.Resource))
	})
	sc.Namespaces = slices.Sorted(maps.Keys(namespaces))
	sc.Roles = slices.Compact(slices.Sorted(slices.Values(sc.Roles)))
	sc.ClusterRoles = slices.Compact(slices.Sorted(slices.Values(sc.ClusterRoles)))
	return sc, nil
}

// crdKind is what a CRD of the render says of its kind.
type crdKind struct {
	plural     string
	namespaced bool
}

func resourceOf(ctx context.Context, o *unstructured.Unstructured, crds map[schema.GroupKind]crdKind, mapper Mapper) (Resource, error) {
	gvk := o.GroupVersionKind()
	gk := gvk.GroupKind()
	if c, ok := crds[gk]; ok {
		return Resource{Group: gk.Group, Resource: c.plural, Namespaced: c.namespaced, CustomResource: true}, nil
	}
	if mapper != nil {
		m, err := mapper.Mapping(ctx, gvk)
		if err == nil {
			return Resource{Group: gk.Group, Resource: m.Resource.Resource, Namespaced: m.Scope != nil && m.Scope.Name() == meta.RESTScopeNameNamespace}, nil
		}
		if !meta.IsNoMatchError(err) {
			return Resource{}, fmt.Errorf("find the resource of kind %s: %w", gk, err)
		}
	}
	plural, _ := meta.UnsafeGuessKindToResource(gvk)
	return Resource{Group: gk.Group, Resource: plural.Resource, Namespaced: o.GetNamespace() != ""}, nil
}

// rbacGroup is where Roles and ClusterRoles live. Creating or changing one
// that grants what the daemon does not hold itself, or binding one, needs
// the escalate and bind verbs: the daemon gets them on the roles the
// environment declares, by name, and on no other.
const rbacGroup = "rbac.authorization.k8s.io"

// clusterRoleRules are the rules of the daemon's ClusterRole, bound
// cluster-wide: manage every cluster-scoped resource the environment
// renders, bind and escalate the ClusterRoles it declares (by name), list
// the custom resources whose CRD it declares (the prune's CRD guard),
// read what the health report explains failures with (Pods, ReplicaSets,
// Events), read Namespaces and the API definitions charts may be gated on
// (CRDs and APIServices, watched for a new render), and record Events.
func clusterRoleRules(o Options) []rbacv1.PolicyRule {
	rules := manageRules(o.Resources, false)
	if len(o.ClusterRoles) > 0 {
		rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{rbacGroup}, Resources: []string{"clusterroles"},
			Verbs: []string{"bind", "escalate"}, ResourceNames: o.ClusterRoles})
	}
	for _, r := range o.Resources {
		if r.Namespaced && r.CustomResource {
			rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{r.Group}, Resources: []string{r.Resource}, Verbs: []string{"list"}})
		}
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

// namespacedRules are the rules of the daemon's second ClusterRole, bound
// by a RoleBinding in each namespace the environment renders into:
// manage its namespaced resources there, and bind and escalate the Roles
// it declares (by name).
func namespacedRules(o Options) []rbacv1.PolicyRule {
	rules := manageRules(o.Resources, true)
	if len(o.Roles) > 0 {
		rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{rbacGroup}, Resources: []string{"roles"},
			Verbs: []string{"bind", "escalate"}, ResourceNames: o.Roles})
	}
	return rules
}

// manageRules grants manageVerbs on the resources of one scope, a rule per
// API group.
func manageRules(resources []Resource, namespaced bool) []rbacv1.PolicyRule {
	byGroup := map[string][]string{}
	for _, r := range resources {
		if r.Namespaced == namespaced {
			byGroup[r.Group] = append(byGroup[r.Group], r.Resource)
		}
	}
	var rules []rbacv1.PolicyRule
	for _, g := range slices.Sorted(maps.Keys(byGroup)) {
		res := slices.Compact(slices.Sorted(slices.Values(byGroup[g])))
		rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{g}, Resources: res, Verbs: manageVerbs})
	}
	return rules
}

// stateRules are the rules of the daemon's Role in its own namespace: the
// inventory and sync record (ConfigMaps) and the Lease of its
// environment, which are all that namespace holds besides the daemon. The
// credentials Secret is mounted, never read through the API.
func stateRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: manageVerbs},
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: manageVerbs},
	}
}

// keyRules are the rules of the daemon's Role in inventory.Namespace: read
// the cluster's fingerprint key, by name, and nothing else there.
func keyRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}, ResourceNames: []string{inventory.KeySecret}},
	}
}

func clusterRole(o Options, name string, rules []rbacv1.PolicyRule) *rbacv1.ClusterRole {
	m := objectMeta(o, name)
	m.Namespace = ""
	return &rbacv1.ClusterRole{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole"},
		ObjectMeta: m,
		Rules:      rules,
	}
}

func subject(o Options) []rbacv1.Subject {
	return []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: Name(o.Environment), Namespace: Namespace(o.Environment)}}
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

func role(o Options, namespace string, rules []rbacv1.PolicyRule) *rbacv1.Role {
	m := objectMeta(o, Name(o.Environment))
	m.Namespace = namespace
	return &rbacv1.Role{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"},
		ObjectMeta: m,
		Rules:      rules,
	}
}

// roleBinding binds, in namespace, the Role or ClusterRole (kind) named
// roleName to the daemon.
func roleBinding(o Options, namespace, kind, roleName string) *rbacv1.RoleBinding {
	m := objectMeta(o, Name(o.Environment))
	m.Namespace = namespace
	return &rbacv1.RoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"},
		ObjectMeta: m,
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacGroup, Kind: kind, Name: roleName},
		Subjects:   subject(o),
	}
}

// NamespacedRole is the name of the daemon's ClusterRole of namespaced
// resources, bound in each namespace the environment renders into.
func NamespacedRole(env string) string { return Name(env) + "-namespaced" }

// rbacObjects are the daemon's RBAC objects.
func rbacObjects(o Options) []runtime.Object {
	env := o.Environment
	if o.ServiceAccount != "" {
		// The environment's objects are written as the service account:
		// the daemon holds none of their kinds, and may impersonate that
		// account alone.
		o.Resources, o.Namespaces, o.Roles, o.ClusterRoles = nil, nil, nil, nil
	}
	objs := []runtime.Object{
		clusterRole(o, Name(env), clusterRoleRules(o)),
		clusterRoleBinding(o),
		clusterRole(o, NamespacedRole(env), namespacedRules(o)),
		role(o, Namespace(env), stateRules()),
		roleBinding(o, Namespace(env), "Role", Name(env)),
		role(o, inventory.Namespace, keyRules()),
		roleBinding(o, inventory.Namespace, "Role", Name(env)),
	}
	for _, ns := range o.Namespaces {
		objs = append(objs, roleBinding(o, ns, "ClusterRole", NamespacedRole(env)))
	}
	if ns, name, ok := config.ServiceAccount(o.ServiceAccount); ok {
		objs = append(objs,
			role(o, ns, []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"serviceaccounts"}, Verbs: []string{"impersonate"}, ResourceNames: []string{name}}}),
			roleBinding(o, ns, "Role", Name(env)))
	}
	return objs
}
