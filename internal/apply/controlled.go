package apply

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// CA injection annotations: an object carrying one of them has its CA
// bundles written by a CA injector (cert-manager's cainjector), which
// rewrites them whenever the certificate rotates.
var caInjectionAnnotations = []string{
	"cert-manager.io/inject-ca-from",
	"cert-manager.io/inject-ca-from-secret",
	"cert-manager.io/inject-apiserver-ca",
}

// LeftField is a field of a rendered object that envctl leaves out of what
// it applies, because a controller owns it by design. Applying it would
// either conflict with that controller on every run or, with forced
// conflicts, undo the controller's work on every run.
type LeftField struct {
	// Path is the field, as server-side apply conflicts name fields:
	// ".rules", `.webhooks[name="x"].clientConfig.caBundle`.
	Path string `json:"path"`
	// Owner is who writes the field instead.
	Owner string `json:"owner"`
}

func (l LeftField) String() string { return l.Path + " (" + l.Owner + ")" }

// DescribeLeft says which fields were left to whom, for a diff note.
func DescribeLeft(left []LeftField) string {
	if len(left) == 0 {
		return ""
	}
	parts := make([]string, len(left))
	for i, l := range left {
		parts[i] = l.String()
	}
	return "not applied, owned by a controller: " + strings.Join(parts, ", ")
}

// AsSent returns obj as envctl applies it: without the fields a controller
// owns by design, which are listed. The result is obj itself when nothing is
// left out, a copy otherwise.
//
//   - .rules of a ClusterRole with an aggregationRule: the
//     clusterrole-aggregation-controller fills them from the ClusterRoles
//     the rule selects (manifests commonly say `rules: []`).
//   - the caBundle of webhook configurations, CRD conversion webhooks and
//     APIServices that ask a CA injector to write it (the
//     cert-manager.io/inject-ca-from family of annotations).
func AsSent(obj *unstructured.Unstructured) (*unstructured.Unstructured, []LeftField) {
	gvk := obj.GroupVersionKind()
	switch {
	case gvk.Group == "rbac.authorization.k8s.io" && gvk.Kind == "ClusterRole":
		return aggregatedRules(obj)
	case gvk.Group == "admissionregistration.k8s.io" && (gvk.Kind == "ValidatingWebhookConfiguration" || gvk.Kind == "MutatingWebhookConfiguration"),
		gvk.Group == "apiextensions.k8s.io" && gvk.Kind == "CustomResourceDefinition",
		gvk.Group == "apiregistration.k8s.io" && gvk.Kind == "APIService":
		return injectedCABundles(obj)
	}
	return obj, nil
}

func aggregatedRules(obj *unstructured.Unstructured) (*unstructured.Unstructured, []LeftField) {
	if agg, ok := obj.Object["aggregationRule"]; !ok || agg == nil {
		return obj, nil
	}
	if _, ok := obj.Object["rules"]; !ok {
		return obj, nil
	}
	out := obj.DeepCopy()
	delete(out.Object, "rules")
	return out, []LeftField{{Path: ".rules", Owner: "clusterrole-aggregation-controller"}}
}

func injectedCABundles(obj *unstructured.Unstructured) (*unstructured.Unstructured, []LeftField) {
	injector := ""
	for _, a := range caInjectionAnnotations {
		if _, ok := obj.GetAnnotations()[a]; ok {
			injector = "the CA injector (" + a + ")"
			break
		}
	}
	if injector == "" {
		return obj, nil
	}
	var out *unstructured.Unstructured
	var left []LeftField
	// remove deletes the caBundle of the map at path in out (copying obj
	// the first time) and records it.
	remove := func(display string, path ...string) {
		m, ok, _ := unstructured.NestedMap(obj.Object, path...)
		if !ok {
			return
		}
		if _, ok := m["caBundle"]; !ok {
			return
		}
		if out == nil {
			out = obj.DeepCopy()
		}
		unstructured.RemoveNestedField(out.Object, append(path, "caBundle")...)
		left = append(left, LeftField{Path: display + ".caBundle", Owner: injector})
	}
	switch obj.GetKind() {
	case "CustomResourceDefinition":
		remove(".spec.conversion.webhook.clientConfig", "spec", "conversion", "webhook", "clientConfig")
	case "APIService":
		remove(".spec", "spec")
	default:
		hooks, _, _ := unstructured.NestedSlice(obj.Object, "webhooks")
		for i, h := range hooks {
			hm, ok := h.(map[string]any)
			if !ok {
				continue
			}
			cc, ok := hm["clientConfig"].(map[string]any)
			if !ok {
				continue
			}
			if _, ok := cc["caBundle"]; !ok {
				continue
			}
			if out == nil {
				out = obj.DeepCopy()
			}
			outHooks := out.Object["webhooks"].([]any)
			delete(outHooks[i].(map[string]any)["clientConfig"].(map[string]any), "caBundle")
			name, _ := hm["name"].(string)
			left = append(left, LeftField{Path: fmt.Sprintf(".webhooks[name=%q].clientConfig.caBundle", name), Owner: injector})
		}
	}
	if out == nil {
		return obj, nil
	}
	return out, left
}
