package plan

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/envctl/envctl/internal/kube"
)

// Markers written in place of Secret values. A diff shows which keys were
// added, removed or changed, never a value, a hash of one or its length.
const (
	SensitiveValue        = "(sensitive value)"
	SensitiveValueChanged = "(sensitive value changed)"
)

// lastApplied is where kubectl's client-side apply keeps a full copy of the
// object, values included.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// clean returns a copy of obj without the fields that change on every write
// or belong to the server rather than to the declared state, so that a diff
// shows only what the user declared or the server would change because of
// it.
func clean(obj *unstructured.Unstructured) *unstructured.Unstructured {
	if obj == nil {
		return nil
	}
	c := obj.DeepCopy()
	for _, f := range []string{"managedFields", "resourceVersion", "generation", "uid", "creationTimestamp", "selfLink"} {
		unstructured.RemoveNestedField(c.Object, "metadata", f)
	}
	unstructured.RemoveNestedField(c.Object, "status")
	if ann := c.GetAnnotations(); ann != nil {
		delete(ann, kube.DigestAnnotation)
		if len(ann) == 0 {
			unstructured.RemoveNestedField(c.Object, "metadata", "annotations")
		} else {
			c.SetAnnotations(ann)
		}
	}
	return c
}

// maskSecrets replaces the values of the Secrets before and after (either
// may be nil) with markers, in place. A key whose value differs gets
// SensitiveValueChanged on the after side, so the diff shows that it changed
// and nothing else. Objects that are not Secrets are left alone.
func maskSecrets(before, after *unstructured.Unstructured) {
	if !kube.IsSecret(before) && !kube.IsSecret(after) {
		return
	}
	for _, field := range []string{"data", "stringData"} {
		maskMalformed(before, field)
		maskMalformed(after, field)
		b := stringMap(before, field)
		a := stringMap(after, field)
		for k, v := range b {
			b[k] = SensitiveValue
			if av, ok := a[k]; ok && av != v {
				a[k] = SensitiveValueChanged
			} else if ok {
				a[k] = SensitiveValue
			}
		}
		for k, v := range a {
			if v != SensitiveValue && v != SensitiveValueChanged {
				a[k] = SensitiveValue
			}
		}
		setStringMap(before, field, b)
		setStringMap(after, field, a)
	}
	// A client-side applied Secret carries its values again in an annotation.
	ab, bb := annotation(before, lastApplied), annotation(after, lastApplied)
	if ab != nil {
		*ab = SensitiveValue
	}
	if bb != nil {
		*bb = SensitiveValue
	}
	setAnnotation(before, lastApplied, ab)
	setAnnotation(after, lastApplied, bb)
}

// maskMalformed replaces a Secret field that is not a map (invalid, but
// possibly in a render shown before the server rejected it) as a whole.
func maskMalformed(obj *unstructured.Unstructured, field string) {
	if obj == nil {
		return
	}
	if v, ok := obj.Object[field]; ok && v != nil {
		if _, isMap := v.(map[string]any); !isMap {
			obj.Object[field] = SensitiveValue
		}
	}
}

// stringMap returns a copy of obj's map field, any value rendered as a
// string; nil when obj or the field is missing.
func stringMap(obj *unstructured.Unstructured, field string) map[string]string {
	if obj == nil {
		return nil
	}
	raw, ok := obj.Object[field].(map[string]any)
	if !ok {
		return nil
	}
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		s, ok := v.(string)
		if !ok {
			// Not valid for a Secret, but never print it either.
			b, _ := yaml.Marshal(v)
			s = string(b)
		}
		out[k] = s
	}
	return out
}

func setStringMap(obj *unstructured.Unstructured, field string, m map[string]string) {
	if obj == nil || m == nil {
		return
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	obj.Object[field] = out
}

func annotation(obj *unstructured.Unstructured, key string) *string {
	if obj == nil {
		return nil
	}
	v, ok := obj.GetAnnotations()[key]
	if !ok {
		return nil
	}
	return &v
}

func setAnnotation(obj *unstructured.Unstructured, key string, v *string) {
	if obj == nil || v == nil {
		return
	}
	ann := obj.GetAnnotations()
	ann[key] = *v
	obj.SetAnnotations(ann)
}

// toYAML renders obj for a diff; nil renders as nothing.
func toYAML(obj *unstructured.Unstructured) (string, error) {
	if obj == nil {
		return "", nil
	}
	b, err := yaml.Marshal(obj.Object)
	if err != nil {
		return "", err
	}
	return string(b), nil
}
