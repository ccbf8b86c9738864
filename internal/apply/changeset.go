package apply

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/object"
)

// Action is what Apply did with one object.
type Action string

// Actions, as reported per object and counted in summaries.
const (
	// Created: the object did not exist.
	Created Action = "created"
	// Configured: the object existed and the apply changed it.
	Configured Action = "configured"
	// Unchanged: the object matched; nothing was written, or the write was
	// a no-op on the server.
	Unchanged Action = "unchanged"
	// Recreated: an immutable field changed and the object was deleted and
	// created again, as asked.
	Recreated Action = "recreated"
	// Failed: the object could not be applied; Change.Err says why.
	Failed Action = "failed"
)

// Change is the outcome of applying one object.
type Change struct {
	Ref    object.Ref
	Action Action
	// Digest and Fields are what the inventory records for the object:
	// the digest of the object as rendered and the hash of the fields
	// envctl owns on it now.
	Digest string
	Fields string
	// Object is the object as the server returned it (or as listed, when
	// unchanged), with status, for the health check. Nil when failed.
	Object *unstructured.Unstructured `json:"-"`
	// Err is set when Action is Failed. It names the object and is
	// classified (errs.Conflict, errs.Input, errs.Cluster).
	Err error `json:"-"`
	// Adopted says, when the apply took over an object that envctl had not
	// applied for this environment, whose it was: "" otherwise.
	Adopted string `json:",omitempty"`
}

// Entry returns the inventory entry of a change that succeeded.
func (c Change) Entry(component string) inventory.Entry {
	return inventory.Entry{Ref: c.Ref, Component: component, Digest: c.Digest, Fields: c.Fields}
}

// ChangeSet is the outcome of one Apply call, in the order the objects were
// given.
type ChangeSet struct {
	Changes []Change
}

// Count returns how many objects had action a.
func (cs *ChangeSet) Count(a Action) int {
	n := 0
	for _, c := range cs.Changes {
		if c.Action == a {
			n++
		}
	}
	return n
}

// Wrote reports whether any object was written.
func (cs *ChangeSet) Wrote() bool {
	for _, c := range cs.Changes {
		if c.Action == Created || c.Action == Configured || c.Action == Recreated {
			return true
		}
	}
	return false
}

// Applied returns the changes that succeeded.
func (cs *ChangeSet) Applied() []Change {
	var out []Change
	for _, c := range cs.Changes {
		if c.Action != Failed {
			out = append(out, c)
		}
	}
	return out
}

// Err joins the errors of the failed changes; nil when none failed. The
// first failure's class (conflict, input, cluster) is the class of the
// whole, so the exit code follows the first problem reported.
func (cs *ChangeSet) Err() error {
	var list []error
	for _, c := range cs.Changes {
		if c.Action == Failed {
			list = append(list, c.Err)
		}
	}
	return errs.Objects("failed", list)
}
