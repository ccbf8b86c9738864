package kube

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func configMap(name string, data map[string]any, ann map[string]any) *unstructured.Unstructured {
	meta := map[string]any{"name": name, "namespace": "ml"}
	if ann != nil {
		meta["annotations"] = ann
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data,
	}}
}

func TestDigest(t *testing.T) {
	base, err := Digest(configMap("a", map[string]any{"k": "v"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		obj  *unstructured.Unstructured
		same bool
	}{
		{"identical object", configMap("a", map[string]any{"k": "v"}, nil), true},
		{"carrying its own digest annotation", configMap("a", map[string]any{"k": "v"}, map[string]any{DigestAnnotation: "old"}), true},
		{"changed data", configMap("a", map[string]any{"k": "w"}, nil), false},
		{"renamed", configMap("b", map[string]any{"k": "v"}, nil), false},
		{"another annotation", configMap("a", map[string]any{"k": "v"}, map[string]any{"x": "y"}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Digest(tt.obj)
			if err != nil {
				t.Fatal(err)
			}
			if (got == base) != tt.same {
				t.Errorf("Digest = %s, base %s; want same=%v", got, base, tt.same)
			}
		})
	}
}

func TestDigestDoesNotModify(t *testing.T) {
	obj := configMap("a", map[string]any{"k": "v"}, map[string]any{DigestAnnotation: "old"})
	if _, err := Digest(obj); err != nil {
		t.Fatal(err)
	}
	if got := obj.GetAnnotations()[DigestAnnotation]; got != "old" {
		t.Errorf("Digest changed its argument: annotation = %q", got)
	}
	d, _ := Digest(obj)
	if got := WithDigest(obj, d).GetAnnotations()[DigestAnnotation]; got != d {
		t.Errorf("WithDigest annotation = %q, want %q", got, d)
	}
}

func withManagedFields(entries ...map[string]any) *unstructured.Unstructured {
	obj := configMap("a", nil, nil)
	items := make([]any, len(entries))
	for i, e := range entries {
		items[i] = e
	}
	_ = unstructured.SetNestedSlice(obj.Object, items, "metadata", "managedFields")
	return obj
}

func TestFieldsHash(t *testing.T) {
	owned := map[string]any{"f:data": map[string]any{"f:k": map[string]any{}}}
	ownedMore := map[string]any{"f:data": map[string]any{"f:k": map[string]any{}, "f:j": map[string]any{}}}
	entry := func(manager, op, sub string, fields map[string]any) map[string]any {
		e := map[string]any{"manager": manager, "operation": op, "fieldsType": "FieldsV1", "fieldsV1": fields}
		if sub != "" {
			e["subresource"] = sub
		}
		return e
	}
	ref := FieldsHash(withManagedFields(entry("envctl", "Apply", "", owned)), "envctl")
	if ref == "" {
		t.Fatal("FieldsHash of an owned field set is empty")
	}
	tests := []struct {
		name string
		obj  *unstructured.Unstructured
		want string // "ref", "" or "other"
	}{
		{"same fields among other managers", withManagedFields(entry("kubectl", "Update", "", ownedMore), entry("envctl", "Apply", "", owned)), "ref"},
		{"no managed fields", configMap("a", nil, nil), ""},
		{"only another manager", withManagedFields(entry("kubectl", "Apply", "", owned)), ""},
		{"envctl through Update", withManagedFields(entry("envctl", "Update", "", owned)), ""},
		{"envctl on the status subresource", withManagedFields(entry("envctl", "Apply", "status", owned)), ""},
		{"envctl owns more", withManagedFields(entry("envctl", "Apply", "", ownedMore)), "other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := FieldsHash(tt.obj, "envctl")
			switch tt.want {
			case "ref":
				if got != ref {
					t.Errorf("FieldsHash = %q, want %q", got, ref)
				}
			case "":
				if got != "" {
					t.Errorf("FieldsHash = %q, want empty", got)
				}
			default:
				if got == "" || got == ref {
					t.Errorf("FieldsHash = %q, want a hash other than %q", got, ref)
				}
			}
		})
	}
}
