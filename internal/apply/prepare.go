package apply

import (
	"context"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/kube"
	"github.com/envctl/envctl/internal/object"
)

// Prepared is an object in the form envctl writes it: its namespace fitted
// to its kind's scope, the fields a controller owns left out (AsSent), and
// the digest of that form. Apply, diff's dry-run and the loop's drift
// correction all write what Prepare returns, so that they agree on what
// "unchanged" means.
type Prepared struct {
	Ref     object.Ref
	Mapping *meta.RESTMapping
	// Desired is the object as sent, without the digest annotation.
	Desired *unstructured.Unstructured
	// Digest is the digest of Desired; keyed (an HMAC) for a Secret once
	// the Manager has the cluster's fingerprint key, empty for a Secret
	// without it.
	Digest string
	// Left are the fields left to the controllers that own them.
	Left []LeftField
}

// Sent is the body of the apply request: Desired with its digest
// annotation.
func (p *Prepared) Sent() *unstructured.Unstructured { return kube.WithDigest(p.Desired, p.Digest) }

// Prepare puts obj, of mapping's kind, in the form the Manager writes.
func (m *Manager) Prepare(obj *unstructured.Unstructured, mapping *meta.RESTMapping) (*Prepared, error) {
	desired, left := AsSent(InScope(obj, mapping))
	digest, err := m.fp.Digest(desired)
	if err != nil {
		return nil, errs.Input(err)
	}
	return &Prepared{Ref: object.RefOf(desired), Mapping: mapping, Desired: desired, Digest: digest, Left: left}, nil
}

// Unchanged is the one rule by which envctl leaves an object unwritten:
// the live object carries the digest of the object as prepared, and the
// fields envctl's manager owns on it hash to what the previous write
// recorded, so nobody changed them since.
func (m *Manager) Unchanged(p *Prepared, live *unstructured.Unstructured, prev Recorded) bool {
	return live != nil && p.Digest != "" && prev.Fields != "" &&
		live.GetAnnotations()[kube.DigestAnnotation] == p.Digest &&
		kube.FieldsHash(live, m.owner) == prev.Fields
}

// WriteOptions are the parameters of one write.
type WriteOptions struct {
	// Force takes over fields owned by other managers.
	Force bool
	// DryRun asks the server to admit and validate without persisting.
	DryRun bool
	// Describe names the object in an error; its Ref when empty.
	Describe string
}

// Write sends p with server-side apply as the Manager's field manager and
// returns what the server answered and whether the request created the
// object. The error names the object and is classified for the exit code.
func (m *Manager) Write(ctx context.Context, p *Prepared, opts WriteOptions) (*unstructured.Unstructured, bool, error) {
	out, created, err := m.client.Apply(ctx, p.Mapping, p.Sent(), kube.ApplyOptions{FieldManager: m.owner, Force: opts.Force, DryRun: opts.DryRun})
	if err != nil {
		verb, name := "apply", opts.Describe
		if opts.DryRun {
			verb = "dry-run"
		}
		if name == "" {
			name = p.Ref.String()
		}
		return nil, false, &WriteError{err: kube.ClassifyError(ctx, verb, name, p.Desired, err), server: err}
	}
	return out, created, nil
}

// WriteError is a write the server refused: it reads as the classified
// error (which names the object and never quotes a Secret's data) and
// unwraps to it and then to the server's own answer, for callers that ask
// what exactly the server said.
type WriteError struct {
	err, server error
}

func (e *WriteError) Error() string { return e.err.Error() }

// Unwrap returns the classified error, then the server's.
func (e *WriteError) Unwrap() []error { return []error{e.err, e.server} }

// Owner is the field manager the Manager writes as.
func (m *Manager) Owner() string { return m.owner }

// InScope returns obj with its namespace made to fit its kind's scope:
// kubectl puts a namespaced object without one in "default", and ignores
// the namespace of a cluster-scoped one. Doing the same everywhere keeps
// an object's recorded identity equal to its real one. obj itself is
// returned when it already fits.
func InScope(obj *unstructured.Unstructured, mapping *meta.RESTMapping) *unstructured.Unstructured {
	namespaced := mapping.Scope.Name() == meta.RESTScopeNameNamespace
	switch ns := obj.GetNamespace(); {
	case namespaced && ns == "":
		c := obj.DeepCopy()
		c.SetNamespace("default")
		return c
	case !namespaced && ns != "":
		c := obj.DeepCopy()
		c.SetNamespace("")
		return c
	}
	return obj
}
