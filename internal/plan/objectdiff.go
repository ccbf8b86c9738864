package plan

import (
	"errors"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// ObjectDiff is the unified diff of two states of one object, before and
// after (either nil: the object is added or removed), with the context
// lines of a plan's diff and Secret values masked as a plan masks them: a
// changed value reads SensitiveValueChanged, never the value or a hash of
// it. It is "" when the two are the same. The objects are not modified.
func ObjectDiff(fromName, toName string, before, after *unstructured.Unstructured) (string, error) {
	b, a := clean(before), clean(after)
	maskSecrets(b, a)
	yb, err1 := toYAML(b)
	ya, err2 := toYAML(a)
	if err := errors.Join(err1, err2); err != nil {
		return "", err
	}
	if before == nil {
		fromName = "/dev/null"
	}
	if after == nil {
		toName = "/dev/null"
	}
	return unifiedDiff(fromName, toName, yb, ya, 3), nil
}
