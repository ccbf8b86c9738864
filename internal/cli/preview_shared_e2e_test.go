package cli

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/envctl/envctl/internal/source/git/gittest"
)

// TestPreviewSeesEveryInput: a preview's base is written as it is read,
// and a component whose inputs are the same on both sides renders once; a
// file reached only through a symlink, a chart's file:// dependency beside
// its directory, a values file, a nested manifest and a kustomize base each
// still show as a change, and an unchanged repository shows none.
func TestPreviewSeesEveryInput(t *testing.T) {
	gittest.NeedGit(t)
	r := &previewRepo{t: t, dir: t.TempDir(), home: t.TempDir(), tmp: t.TempDir()}
	gittest.Git(t, r.dir, "init", "-q", "-b", "main")
	r.write("config.yaml", "apiVersion: envctl.dev/v1alpha1\nkind: Config\nmetadata:\n  name: inputs\nspec:\n  defaultEnvironment: dev\n")
	r.write("environments/dev.yaml", `apiVersion: envctl.dev/v1alpha1
kind: Environment
metadata:
  name: dev
spec:
  cluster:
    provider: existing
    existing:
      kubeconfig: /nonexistent/kubeconfig
  components:
    - name: app
      kustomize: overlays/dev
    - name: chart
      helm:
        chart: charts/web
        namespace: demo
        valuesFiles: [values/dev.yaml]
    - name: plain
      manifests:
        path: plain
`)
	cm := func(name, value string) string {
		return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\n  namespace: demo\ndata:\n  v: \"" + value + "\"\n"
	}
	r.write("base/ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n")
	r.write("base/cm.yaml", cm("from-base", "1"))
	r.write("base/kustomization.yaml", "resources: [ns.yaml, cm.yaml]\n")
	r.write("shared/linked.yaml", cm("linked", "1"))
	r.write("overlays/dev/kustomization.yaml", "resources: [../../base]\n")
	r.write("charts/web/Chart.yaml", "apiVersion: v2\nname: web\nversion: 0.1.0\ndependencies:\n  - name: common\n    version: 0.1.0\n    repository: file://../common\n")
	r.write("charts/web/templates/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\ndata:\n  size: {{ .Values.size | quote }}\n")
	r.write("charts/web/values.yaml", "size: small\n")
	r.write("charts/common/Chart.yaml", "apiVersion: v2\nname: common\nversion: 0.1.0\n")
	r.write("charts/common/templates/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: common\ndata:\n  v: \"1\"\n")
	r.write("values/dev.yaml", "size: medium\n")
	r.write("plain/top.yaml", cm("top", "1"))
	r.write("plain/nested/deep.yaml", cm("deep", "1"))
	// kustomize refuses a symlink out of its directory; a manifests
	// directory reads one that stays in the repository.
	if err := os.Symlink("../shared/linked.yaml", filepath.Join(r.dir, "plain", "linked.yaml")); err != nil {
		t.Fatal(err)
	}
	r.commit("first")

	// Nothing changed: no object differs, though each side rendered.
	stdout, stderr := r.mustRun(diffExitNoChanges, "diff", "--base", "HEAD")
	containsAll(t, "an unchanged preview", stderr, ": no changes, 7 unchanged.")
	if stdout != "" {
		t.Errorf("an unchanged preview printed:\n%s", stdout)
	}

	for _, tt := range []struct {
		file, content, want string
	}{
		{"shared/linked.yaml", cm("linked", "2"), "ConfigMap demo/linked"},
		{"base/cm.yaml", cm("from-base", "2"), "ConfigMap demo/from-base"},
		{"charts/common/templates/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: common\ndata:\n  v: \"2\"\n", "ConfigMap demo/common"},
		{"values/dev.yaml", "size: large\n", "ConfigMap demo/web"},
		{"plain/nested/deep.yaml", cm("deep", "2"), "ConfigMap demo/deep"},
	} {
		before, err := os.ReadFile(filepath.Join(r.dir, tt.file))
		if err != nil {
			t.Fatal(err)
		}
		r.write(tt.file, tt.content)
		stdout, stderr := r.mustRun(diffExitChanges, "diff", "--base", "HEAD")
		containsAll(t, "the preview of a change to "+tt.file, stdout+stderr, tt.want, ": 1 changed, 6 unchanged.")
		r.write(tt.file, string(before))
	}
}
