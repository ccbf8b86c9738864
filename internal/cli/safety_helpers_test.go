package cli

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/testenv"
)

// cmYAML is a ConfigMap named name in the test's namespace (NS).
func cmYAML(name string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  namespace: NS\ndata:\n  k: v\n", name)
}

// setComponents rewrites the environment with the given components, each a
// kustomize overlay overlays/NAME (the first one, "app", is newE2E's).
func (e *e2e) setComponents(names ...string) {
	e.t.Helper()
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "    - name: %s\n      kustomize: overlays/%s\n", n, n)
	}
	e.write("environments/"+e.env+".yaml", `apiVersion: envctl.dev/v1alpha1
kind: Environment
metadata:
  name: `+e.env+`
spec:
  cluster:
    provider: existing
    existing:
      kubeconfig: `+e.kubeconfig+`
  components:
`+b.String())
}

// componentOverlay writes overlays/NAME listing resources (file -> YAML, NS
// replaced by the test's namespace).
func (e *e2e) componentOverlay(name string, resources map[string]string) {
	e.t.Helper()
	files := make([]string, 0, len(resources))
	for f := range resources {
		files = append(files, f)
	}
	sort.Strings(files)
	var list strings.Builder
	for _, f := range files {
		e.write("overlays/"+name+"/"+f, strings.ReplaceAll(resources[f], "NS", e.ns))
		fmt.Fprintf(&list, "  - %s\n", f)
	}
	res := "resources:\n" + list.String()
	if len(files) == 0 {
		res = "resources: []\n"
	}
	e.write("overlays/"+name+"/kustomization.yaml", "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"+res)
}

// configMapExists reports whether ConfigMap name exists in the test's
// namespace (and is not being deleted).
func (e *e2e) configMapExists(name string) bool {
	e.t.Helper()
	cm, err := testenv.Get(e.t).Clientset().CoreV1().ConfigMaps(e.ns).Get(e.t.Context(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return cm.DeletionTimestamp == nil
}

// storedInventory loads the environment's stored inventory.
func (e *e2e) storedInventory() (*inventory.Inventory, error) {
	return inventory.NewStore(testenv.Get(e.t).Clientset()).Load(e.t.Context(), e.env)
}

// mustContain fails t unless s contains every one of want.
func mustContain(t *testing.T, what, s string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(s, w) {
			t.Errorf("%s does not say %q:\n%s", what, w, s)
		}
	}
}
