// Package inventory records, in the cluster, what envctl applied for an
// environment, so that a later run can prune what is no longer declared
// and tell unchanged objects from drifted ones without writing.
package inventory

import "time"

// Inventory is what envctl last applied for one environment.
type Inventory struct {
	Environment string `json:"environment"`
	// Revision is the source revision that was applied.
	Revision string `json:"revision"`
	// AppliedAt is when the apply that produced this inventory finished.
	AppliedAt time.Time `json:"appliedAt"`
	// Components are the names of the components applied, in order.
	Components []string `json:"components,omitempty"`
	// Entries are the objects applied, sorted by Ref.
	Entries []Entry `json:"entries"`
}

// Ref identifies one object.
type Ref struct {
	Group     string `json:"group,omitempty"`
	Version   string `json:"version,omitempty"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// Entry is one applied object.
type Entry struct {
	Ref
	Component string `json:"component"`
	// Digest is a hash of the object as rendered (what envctl sent).
	Digest string `json:"digest,omitempty"`
	// Fields is a hash of the fields envctl's field manager owned on the
	// object right after the apply. When the live object still has the same
	// Digest annotation and the same owned fields, it has not drifted.
	Fields string `json:"fields,omitempty"`
}
