package render

import (
	"testing"

	"github.com/envctl/envctl/internal/config"
)

// TestListHook renders a chart whose pre-install hook is a List: Helm
// creates every item as a hook, and so each becomes a Hook of its own.
func TestListHook(t *testing.T) {
	root := fidelityRepo(t, map[string]string{
		"c/Chart.yaml": "apiVersion: v2\nname: c\nversion: 0.1.0\n",
		"c/templates/hook.yaml": `apiVersion: v1
kind: List
metadata:
  annotations:
    helm.sh/hook: pre-install
    helm.sh/hook-weight: "2"
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: first}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: second}
`,
	})
	res, err := renderRepo(t, root, newEnv("", config.Component{Name: "c", Helm: &config.HelmRelease{Chart: "c", Namespace: "default"}}), nil)
	if err != nil {
		t.Fatal(err)
	}
	hooks := res.Components[0].Hooks
	if len(hooks) != 2 {
		t.Fatalf("%d hooks, want the List's two items", len(hooks))
	}
	for i, name := range []string{"first", "second"} {
		h := hooks[i]
		if h.Object.GetName() != name || h.Weight != 2 || len(h.Phases) != 1 || h.Phases[0] != PreInstall || h.DeletePolicies[0] != HookBeforeCreation {
			t.Errorf("hook %d = %s weight %d phases %v policies %v, want %s, 2, pre-install, before-hook-creation",
				i, h.Object.GetName(), h.Weight, h.Phases, h.DeletePolicies, name)
		}
	}
}
