package drift

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// kubectlPrefixes are the field managers whose edits are taken back: the
// names kubectl writes under (kubectl-edit, kubectl-set, kubectl-scale,
// kubectl-patch, kubectl-label, kubectl-annotate, kubectl-client-side-apply,
// and plain "kubectl" from older versions) and the name the API server
// gives fields that predate the first server-side apply.
var kubectlPrefixes = []string{"kubectl", "before-first-apply"}

// KubectlLike says whether a managed-fields entry records a person's
// edit through kubectl rather than a controller's work: an Update by a
// kubectl manager, on the object or on its scale subresource (kubectl
// scale). Status written by anyone is never a person's edit.
func KubectlLike(e metav1.ManagedFieldsEntry) bool {
	if e.Operation != metav1.ManagedFieldsOperationUpdate {
		return false
	}
	if e.Subresource != "" && e.Subresource != "scale" {
		return false
	}
	for _, p := range kubectlPrefixes {
		if e.Manager == p || strings.HasPrefix(e.Manager, p+"-") {
			return true
		}
	}
	return false
}

// kubectlManagers lists the kubectl-like managers of entries, sorted.
func kubectlManagers(entries []metav1.ManagedFieldsEntry) []string {
	var out []string
	for _, e := range entries {
		if KubectlLike(e) && !slices.Contains(out, e.Manager) {
			out = append(out, e.Manager)
		}
	}
	slices.Sort(out)
	return out
}

// ownEntry returns the index of owner's apply entry on the object itself.
func ownEntry(entries []metav1.ManagedFieldsEntry, owner string) int {
	return slices.IndexFunc(entries, func(e metav1.ManagedFieldsEntry) bool {
		return e.Manager == owner && e.Operation == metav1.ManagedFieldsOperationApply && e.Subresource == ""
	})
}

// FieldsHash fingerprints the fields owner applied, from typed managed
// fields (what a metadata-only watch delivers). It equals kube.FieldsHash of
// the same object: the fieldsV1 document re-encoded with sorted keys.
func FieldsHash(entries []metav1.ManagedFieldsEntry, owner string) string {
	i := ownEntry(entries, owner)
	if i < 0 || entries[i].FieldsV1 == nil {
		return ""
	}
	var doc any
	if err := json.Unmarshal(entries[i].FieldsV1.Raw, &doc); err != nil {
		return "invalid"
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return "invalid"
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// TakeOver returns entries with the fields of every kubectl-like manager
// moved into owner's apply entry (made when owner has none, for apiVersion),
// and whether anything moved. Sent as the object's managed fields before
// owner applies again, it makes owner the only manager of what kubectl
// wrote, so the apply resets the values owner declares and removes what
// owner does not declare (an env var kubectl added to a list owner
// declares), which a forced apply alone would leave in place.
//
// The API server keys managed fields by manager and operation, so the
// kubectl entries are merged into owner's, never added beside it: a second
// entry with owner's key would replace the first.
func TakeOver(entries []metav1.ManagedFieldsEntry, owner, apiVersion string) ([]metav1.ManagedFieldsEntry, bool, error) {
	var taken []map[string]any
	out := make([]metav1.ManagedFieldsEntry, 0, len(entries))
	for _, e := range entries {
		if !KubectlLike(e) {
			out = append(out, e)
			continue
		}
		if e.FieldsV1 != nil {
			var doc map[string]any
			if err := json.Unmarshal(e.FieldsV1.Raw, &doc); err != nil {
				return nil, false, fmt.Errorf("managed fields of %s: %w", e.Manager, err)
			}
			taken = append(taken, doc)
		}
	}
	if len(out) == len(entries) {
		return entries, false, nil
	}
	merged := map[string]any{}
	i := ownEntry(out, owner)
	if i >= 0 && out[i].FieldsV1 != nil {
		if err := json.Unmarshal(out[i].FieldsV1.Raw, &merged); err != nil {
			return nil, false, fmt.Errorf("managed fields of %s: %w", owner, err)
		}
	}
	for _, doc := range taken {
		mergeFields(merged, doc)
	}
	raw, err := json.Marshal(merged)
	if err != nil {
		return nil, false, err
	}
	now := metav1.NewTime(time.Now().UTC().Truncate(time.Second))
	if i < 0 {
		out = append(out, metav1.ManagedFieldsEntry{
			Manager:    owner,
			Operation:  metav1.ManagedFieldsOperationApply,
			APIVersion: apiVersion,
			FieldsType: "FieldsV1",
		})
		i = len(out) - 1
	}
	out[i].FieldsV1 = &metav1.FieldsV1{Raw: raw}
	out[i].Time = &now
	return out, true, nil
}

// mergeFields adds the field set src to dst: both are fieldsV1 tries, in
// which every key is a field, list key or value ("f:", "k:", "v:", "i:")
// or "." for the element itself, and every leaf an empty object.
func mergeFields(dst, src map[string]any) {
	for k, v := range src {
		sv, sok := v.(map[string]any)
		dv, dok := dst[k].(map[string]any)
		switch {
		case sok && dok:
			mergeFields(dv, sv)
		case sok:
			c := map[string]any{}
			mergeFields(c, sv)
			dst[k] = c
		default:
			dst[k] = v
		}
	}
}

// lastOther names the manager, other than owner, whose entry on the object
// itself changed last: who most likely changed what owner declares.
func lastOther(entries []metav1.ManagedFieldsEntry, owner string) string {
	var who string
	var at time.Time
	for _, e := range entries {
		if e.Manager == owner || e.Subresource == "status" || e.Time == nil {
			continue
		}
		if who == "" || e.Time.After(at) {
			who, at = e.Manager, e.Time.Time
		}
	}
	return who
}
