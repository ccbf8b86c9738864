package plan

import (
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// minSensitive is the shortest value maskSensitive looks for: shorter ones
// would mask common words all over a diff and hide little.
const minSensitive = 3

// maskSensitive replaces, in place, every occurrence of one of values in
// obj's strings (nil obj: nothing) with SensitiveValue. It is how a value
// read from a Secret at render time (a chart's lookup copying it into a
// ConfigMap) stays out of a diff of an object that is not a Secret.
func maskSensitive(obj *unstructured.Unstructured, values []string) {
	if obj == nil || len(values) == 0 {
		return
	}
	var live []string
	for _, v := range values {
		if len(v) >= minSensitive {
			live = append(live, v)
		}
	}
	if len(live) == 0 {
		return
	}
	obj.Object = maskValue(obj.Object, live).(map[string]any)
}

func maskValue(v any, values []string) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			t[k] = maskValue(x, values)
		}
		return t
	case []any:
		for i, x := range t {
			t[i] = maskValue(x, values)
		}
		return t
	case string:
		for _, s := range values {
			if strings.Contains(t, s) {
				return SensitiveValue
			}
		}
		return t
	}
	return v
}
