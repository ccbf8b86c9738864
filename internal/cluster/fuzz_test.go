package cluster

import (
	"strings"
	"testing"

	"github.com/envctl/envctl/internal/cluster/kubeconfig"
)

// FuzzValidateName: every name ValidateName accepts must be usable as a
// path element, a kind cluster name and, prefixed, a DNS label.
func FuzzValidateName(f *testing.F) {
	for _, s := range []string{"ml", "envctl-local", "", "-a", "a-", "A", "a.b", "../x", strings.Repeat("a", 41), "a\x00b", "ü"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if ValidateName(name) != nil {
			return
		}
		if len(kubeconfig.ContextName(name)) > 63 {
			t.Fatalf("context name of %q is longer than a DNS label", name)
		}
		if strings.ContainsAny(name, "/.\\ \x00") || name != strings.ToLower(name) || strings.HasPrefix(name, "-") || strings.HasSuffix(name, "-") {
			t.Fatalf("ValidateName accepted %q", name)
		}
	})
}
