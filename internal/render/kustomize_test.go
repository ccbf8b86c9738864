package render

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/envctl/envctl/internal/config"
)

// TestKustomizeScalars checks that a kustomize resource's values reach the
// object as `kubectl apply -k` sends them: an unquoted timestamp as its
// JSON form (as `kustomize build` writes it), YAML 1.1 booleans as the
// strings kustomize reads them as, and null labels as the server stores
// them.
func TestKustomizeScalars(t *testing.T) {
	root := fidelityRepo(t, map[string]string{
		"k/kustomization.yaml": "resources:\n- cm.yaml\n",
		"k/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: scalars\n  labels:\n    tier:\n  annotations:\n" +
			"data:\n  date: 2001-12-14\n  spaced: 2001-12-14 21:59:43.10 -5\n  yes: on\n  quoted: \"0777\"\n",
	})
	res, err := renderRepo(t, root, newEnv("", config.Component{Name: "k", Kustomize: "k"}), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"date": "2001-12-14T00:00:00Z", "spaced": "2001-12-14 21:59:43.10 -5", "yes": "on", "quoted": "0777"}
	if diff := cmp.Diff(want, configData(t, res, "scalars")); diff != "" {
		t.Errorf("data (-want +got):\n%s", diff)
	}
	if tier, ok := findObject(t, res, "ConfigMap", "scalars").GetLabels()["tier"]; !ok || tier != "" {
		t.Errorf("label tier = %q (present %v), want \"\"", tier, ok)
	}
}
