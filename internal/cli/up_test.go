package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runCLI runs envctl with args and returns the exit code, stdout and stderr.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Main(args, IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	return code, out.String(), errOut.String()
}

// writeRepo writes a minimal repository with environment dev and returns
// its root.
func writeRepo(t *testing.T) string {
	t.Helper()
	return writeRepoFiles(t, map[string]string{
		"config.yaml": "apiVersion: envctl.dev/v1alpha1\nkind: Config\nspec:\n  defaultEnvironment: dev\n",
		"environments/dev.yaml": `apiVersion: envctl.dev/v1alpha1
kind: Environment
metadata: {name: dev}
spec:
  cluster: {provider: existing}
  components:
    - name: platform
      kustomize: overlays/dev/platform
    - name: serving
      kustomize: overlays/dev/serving
      dependsOn: [platform]
`,
		"overlays/dev/platform/kustomization.yaml": "resources: [cm.yaml]\n",
		"overlays/dev/platform/cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: default}\ndata: {k: v}\n",
		"overlays/dev/serving/kustomization.yaml":  "resources: [cm.yaml]\n",
		"overlays/dev/serving/cm.yaml":             "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: serving, namespace: default}\ndata: {k: v}\n",
	})
}

// writeRepoFiles writes a repository of files in a temp dir and returns it.
func writeRepoFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, data := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestReconcileCommandsBadInput(t *testing.T) {
	repo := writeRepo(t)
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"unknown output", []string{"up", "--repo", repo, "-o", "xml"}, []string{`unknown output format "xml"`}},
		{"negative timeout", []string{"apply", "--repo", repo, "--timeout", "-1s"}, []string{"--timeout must not be negative"}},
		{"contradicting prune flags", []string{"up", "--repo", repo, "--force-prune", "--no-prune"}, []string{"--force-prune and --no-prune"}},
		{"two environments", []string{"apply", "--repo", repo, "dev", "ci"}, []string{"accepts at most 1 arg", "envctl apply --help"}},
		{"unknown flag", []string{"up", "--repo", repo, "--prune-everything"}, []string{"unknown flag: --prune-everything"}},
		{"unknown component", []string{"up", "--repo", repo, "dev", "--component", "nope"}, []string{`unknown component "nope"`, "environments/dev.yaml", "known components: platform, serving"}},
		{"unknown environment", []string{"apply", "--repo", repo, "prod"}, []string{"prod"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tt.args...)
			if code != ExitInput {
				t.Errorf("exit code = %d, want %d (stderr %q)", code, ExitInput, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q does not mention %q", stderr, w)
				}
			}
		})
	}
}

func TestUpHelp(t *testing.T) {
	for _, cmd := range []string{"up", "apply"} {
		code, stdout, _ := runCLI(t, cmd, "--help")
		if code != ExitOK {
			t.Errorf("%s --help exit code %d", cmd, code)
		}
		for _, w := range []string{"Examples:", "--force-conflicts", "--force-recreate", "--force-prune", "--no-prune", "--no-wait", "--component", "--timeout", "-o, --output"} {
			if !strings.Contains(stdout, w) {
				t.Errorf("%s --help does not mention %q", cmd, w)
			}
		}
	}
	if _, stdout, _ := runCLI(t, "apply", "--help"); !strings.Contains(stdout, "--kubeconfig") {
		t.Error("apply --help does not offer --kubeconfig")
	}
}
