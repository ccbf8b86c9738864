package kube

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/envctl/envctl/internal/object"
)

// Annotations envctl reads or writes on the objects it manages.
const (
	// DigestAnnotation holds the Digest of the object as envctl last applied
	// it. Together with the inventory's owned-fields hash it lets a reconcile
	// skip an unchanged object without a dry-run request.
	DigestAnnotation = "envctl.dev/digest"
	// ForceRecreateAnnotation set to "true" lets envctl delete and recreate
	// the object when a change touches an immutable field.
	ForceRecreateAnnotation = "envctl.dev/force-recreate"
	// PruneAnnotation set to "disabled" keeps prune from deleting the object.
	PruneAnnotation = "envctl.dev/prune"
)

// Describe names obj for messages: "Deployment ml/model-server".
func Describe(obj *unstructured.Unstructured) string { return object.RefOf(obj).String() }

// Digest fingerprints obj as rendered: the SHA-256 of its JSON (object keys
// sorted, as encoding/json writes maps) without the digest annotation itself,
// so that the digest of an object that already carries one is stable.
//
// A Secret has no digest here (""): an unkeyed hash of its content, kept in
// an annotation and in the inventory ConfigMap, would let anyone who can
// read those test guesses of a weak password offline. Fingerprints.Digest
// gives a Secret a keyed one.
func Digest(obj *unstructured.Unstructured) (string, error) {
	return Fingerprints{}.Digest(obj)
}

// SecretDigestPrefix starts the digest of a Secret, an HMAC, so that it is
// never mistaken for (or compared equal to) an unkeyed digest written by an
// older envctl.
const SecretDigestPrefix = "hmac-sha256:"

// Fingerprints computes the digests envctl records of the objects it
// applies. Key is the cluster's fingerprint key (inventory.Store.SecretKey):
// a Secret's digest is an HMAC of its content under that key, which lives in
// a Secret itself, so only those who may read Secrets could recompute it.
// Without a key a Secret gets no digest, and is then never taken for
// unchanged without asking the server.
type Fingerprints struct {
	Key []byte
}

// Digest returns obj's digest; see the package function Digest. It is ""
// for a Secret when f has no key.
func (f Fingerprints) Digest(obj *unstructured.Unstructured) (string, error) {
	secret := IsSecret(obj)
	if secret && len(f.Key) == 0 {
		return "", nil
	}
	c := obj.DeepCopy()
	if ann := c.GetAnnotations(); ann != nil {
		if _, ok := ann[DigestAnnotation]; ok {
			delete(ann, DigestAnnotation)
			if len(ann) == 0 {
				unstructured.RemoveNestedField(c.Object, "metadata", "annotations")
			} else {
				c.SetAnnotations(ann)
			}
		}
	}
	b, err := json.Marshal(c.Object)
	if err != nil {
		return "", fmt.Errorf("digest of %s: %w", Describe(obj), err)
	}
	if secret {
		mac := hmac.New(sha256.New, f.Key)
		mac.Write(b)
		return SecretDigestPrefix + hex.EncodeToString(mac.Sum(nil)), nil
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// WithDigest returns a copy of obj annotated with digest.
func WithDigest(obj *unstructured.Unstructured, digest string) *unstructured.Unstructured {
	c := obj.DeepCopy()
	ann := c.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann[DigestAnnotation] = digest
	c.SetAnnotations(ann)
	return c
}

// FieldsHash fingerprints the fields that manager owns on live through
// server-side apply. It is "" when the manager owns nothing. The fieldsV1
// document is hashed as re-encoded JSON (keys sorted), so the hash does not
// depend on how the server spaced or ordered it.
func FieldsHash(live *unstructured.Unstructured, manager string) string {
	items, _, _ := unstructured.NestedSlice(live.Object, "metadata", "managedFields")
	for _, item := range items {
		m, ok := item.(map[string]any)
		if !ok {
			continue
		}
		sub, _ := m["subresource"].(string)
		if m["manager"] != manager || m["operation"] != string(metav1.ManagedFieldsOperationApply) || sub != "" {
			continue
		}
		fields, ok := m["fieldsV1"]
		if !ok {
			return ""
		}
		b, err := json.Marshal(fields)
		if err != nil {
			// An unreadable field set cannot match a recorded hash, which
			// errs on the side of applying again.
			return "invalid"
		}
		sum := sha256.Sum256(b)
		return hex.EncodeToString(sum[:])
	}
	return ""
}
