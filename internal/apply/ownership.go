package apply

import (
	"fmt"

	"github.com/envctl/envctl/internal/ownership"
)

// OwnershipError reports an object that exists labelled for another
// environment. envctl does not take it over silently: the other
// environment's next run would take it back, and its prune could delete
// it. The error is classified as a conflict (exit 5).
type OwnershipError struct {
	Object string
	// Owner is the environment the object's labels name.
	Owner string
	// Environment is the environment that tried to apply it.
	Environment string
}

func (e *OwnershipError) Error() string {
	return fmt.Sprintf("apply %s: it exists and belongs to environment %q (label %s), not %q; not taken over. "+
		"Remove it from one of the environments, or rerun with --adopt to take it over",
		e.Object, e.Owner, ownership.LabelEnvironment, e.Environment)
}

// Adoption notes, for Change.Adopted.
const (
	// AdoptedUnlabelled: the object existed without envctl's labels.
	AdoptedUnlabelled = "it existed without envctl's labels"
)

// adoptedFrom is the Adopted note of an object taken over from another
// environment with --adopt.
func adoptedFrom(owner string) string {
	return fmt.Sprintf("it belonged to environment %q", owner)
}
