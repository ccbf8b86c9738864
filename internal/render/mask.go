package render

import (
	"encoding/base64"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// MaskedValue replaces the data of Secrets decrypted from SOPS files in
// output meant for reading. It is not base64, so that masked output piped
// to an apply fails instead of storing it.
const MaskedValue = "<masked: decrypted from a SOPS file; --show-secrets shows it>"

// minSecretLen is the shortest decrypted value looked for in Secrets; a
// shorter one would match Secrets that never held it.
const minSecretLen = 3

// markDecrypted records, per component, the Secrets whose data holds a
// value decrypted from one of the component's SOPS files.
func (r *renderer) markDecrypted(comps []*Component) {
	for _, c := range comps {
		if files := r.sopsFiles[c.Name]; len(files) > 0 {
			c.SOPSFiles = slices.Compact(slices.Sorted(slices.Values(files)))
		}
		secrets := r.secrets[c.Name]
		if len(secrets) == 0 {
			continue
		}
		objs := append([]*unstructured.Unstructured{}, c.Objects...)
		for _, h := range c.Hooks {
			objs = append(objs, h.Object)
		}
		for _, o := range objs {
			if isSecret(o) && holdsAny(o, secrets) {
				c.Decrypted = append(c.Decrypted, IDOf(o))
			}
		}
	}
}

func isSecret(o *unstructured.Unstructured) bool {
	gvk := o.GroupVersionKind()
	return gvk.Group == "" && gvk.Kind == "Secret"
}

// holdsAny says whether a Secret's data or stringData holds one of values.
func holdsAny(o *unstructured.Unstructured, values []string) bool {
	for _, field := range []string{"data", "stringData"} {
		m, _, _ := unstructured.NestedMap(o.Object, field)
		for _, v := range m {
			// A data value holds a decrypted one either encoded (a value
			// kustomize or a template encoded) or as it is (a manifest's
			// data field encrypted with its base64 already applied).
			s, _ := v.(string)
			forms := []string{s}
			if field == "data" {
				if b, err := base64.StdEncoding.DecodeString(s); err == nil {
					forms = append(forms, string(b))
				}
			}
			for _, secret := range values {
				for _, f := range forms {
					if len(secret) >= minSecretLen && strings.Contains(f, secret) {
						return true
					}
				}
			}
		}
	}
	return false
}

// Masked returns a copy of the result in which the data of every Secret
// decrypted from a SOPS file reads MaskedValue; the result itself is left
// as it is, for apply.
func (r *Result) Masked() *Result {
	out := *r
	out.Components = make([]*Component, len(r.Components))
	for i, c := range r.Components {
		if len(c.Decrypted) == 0 {
			out.Components[i] = c
			continue
		}
		cc := *c
		cc.Objects = maskAll(c.Objects, c.Decrypted)
		cc.Hooks = make([]*Hook, len(c.Hooks))
		for j, h := range c.Hooks {
			hh := *h
			hh.Object = maskAll([]*unstructured.Unstructured{h.Object}, c.Decrypted)[0]
			cc.Hooks[j] = &hh
		}
		out.Components[i] = &cc
	}
	return &out
}

func maskAll(objs []*unstructured.Unstructured, ids []ObjectID) []*unstructured.Unstructured {
	out := make([]*unstructured.Unstructured, len(objs))
	for i, o := range objs {
		out[i] = o
		id := IDOf(o)
		found := false
		for _, d := range ids {
			found = found || d == id
		}
		if !found {
			continue
		}
		m := o.DeepCopy()
		for _, field := range []string{"data", "stringData"} {
			data, _, _ := unstructured.NestedMap(m.Object, field)
			for k := range data {
				data[k] = MaskedValue
			}
			if data != nil {
				_ = unstructured.SetNestedMap(m.Object, data, field)
			}
		}
		out[i] = m
	}
	return out
}
