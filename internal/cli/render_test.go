package cli

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/render"
)

func init() {
	// Several test files in this package register -update; the first wins.
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite the golden files under testdata/")
	}
}

// platformRepo is the repository's own declared state, the ML platform.
const platformRepo = "../.."

// runRenderCLI runs envctl with args against a clean environment and returns
// the exit code and both streams.
func runRenderCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	for _, k := range config.Keys() {
		t.Setenv(k.Env, "")
	}
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	// No SOPS key from the developer's shell: staging must get its key
	// from the test (stagingKey).
	t.Setenv("SOPS_AGE_KEY", "")
	t.Setenv("SOPS_AGE_KEY_FILE", "")
	var out, errOut bytes.Buffer
	code := Main(args, IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	return code, out.String(), errOut.String()
}

// stagingKey is the age identity that opens the staging overlay's SOPS
// file: envctl's test key, kept with the render package's test data and
// never in the platform itself.
var stagingKey = filepath.Join("..", "render", "testdata", "sops", "staging.agekey")

// platformArgs are the arguments that render env of the example platform;
// staging needs its decryption key.
func platformArgs(env string, args ...string) []string {
	args = append([]string{"render", env, "-C", platformRepo}, args...)
	if env == "staging" {
		args = append(args, "--decryption-key-file", stagingKey)
	}
	return args
}

func checkRenderGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "render", name)
	if f := flag.Lookup("update"); f != nil && f.Value.String() == "true" {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got; go test -update rewrites it after a change to the platform):\n%s", name, diff)
	}
}

// TestRenderPlatform renders the platform's real environments through the
// CLI and compares them with golden files, so that a change to bases/,
// overlays/ or environments/ shows up as a reviewed diff.
func TestRenderPlatform(t *testing.T) {
	for _, env := range []string{"local", "ci", "staging"} {
		t.Run(env, func(t *testing.T) {
			code, out, errOut := runRenderCLI(t, platformArgs(env)...)
			if code != ExitOK {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			if errOut != "" {
				t.Errorf("stderr without -v: %q", errOut)
			}
			checkRenderGolden(t, env+".golden.yaml", out)

			// The same bytes every run.
			_, again, _ := runRenderCLI(t, platformArgs(env)...)
			if again != out {
				t.Error("a second render gives different bytes")
			}
			docs := strings.Count(out, "---\n# Source: ")
			if docs == 0 {
				t.Fatal("no objects rendered")
			}
			if n := strings.Count(out, "envctl.dev/environment: "+env+"\n"); n < docs {
				t.Errorf("%d of %d objects carry the environment label", n, docs)
			}

			// JSON carries the same objects.
			code, js, errOut := runRenderCLI(t, platformArgs(env, "-o", "json")...)
			if code != ExitOK {
				t.Fatalf("-o json: exit %d: %s", code, errOut)
			}
			var list struct {
				APIVersion string           `json:"apiVersion"`
				Kind       string           `json:"kind"`
				Items      []map[string]any `json:"items"`
			}
			if err := json.Unmarshal([]byte(js), &list); err != nil {
				t.Fatalf("-o json is not JSON: %v", err)
			}
			if list.APIVersion != "v1" || list.Kind != "List" || len(list.Items) != docs {
				t.Errorf("-o json: %s %s with %d items, want v1 List with %d", list.APIVersion, list.Kind, len(list.Items), docs)
			}
		})
	}
}

func TestRenderComponentAndProgress(t *testing.T) {
	code, out, errOut := runRenderCLI(t, "render", "local", "-C", platformRepo, "--component", "monitoring", "--component", "platform", "-v")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, line := range strings.Split(out, "\n") {
		if src, ok := strings.CutPrefix(line, "# Source: "); ok {
			if !strings.HasPrefix(src, "monitoring/") && !strings.HasPrefix(src, "platform/") {
				t.Errorf("object of another component: %s", src)
			}
		}
	}
	if !strings.Contains(out, "# Source: platform/") || !strings.Contains(out, "# Source: monitoring/") {
		t.Error("a selected component is missing")
	}
	if !strings.Contains(errOut, "rendered environment") || !strings.Contains(errOut, "components=2") {
		t.Errorf("-v does not report progress on stderr: %q", errOut)
	}
}

func TestRenderOutputDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	code, out, errOut := runRenderCLI(t, "render", "ci", "-C", platformRepo, "--output-dir", dir)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if out != "" {
		t.Errorf("--output-dir also printed to stdout: %d bytes", len(out))
	}
	_, stream, _ := runRenderCLI(t, "render", "ci", "-C", platformRepo)
	var files int
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".yaml") {
			files++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Count(stream, "---\n# Source: "); files != want {
		t.Errorf("%d files, want one per object (%d)", files, want)
	}
	// A second render into the same directory would mix old and new files.
	if code, _, errOut := runRenderCLI(t, "render", "ci", "-C", platformRepo, "--output-dir", dir); code != ExitInput || !strings.Contains(errOut, "is not empty") {
		t.Errorf("render into a non-empty directory: exit %d, %q", code, errOut)
	}
}

func TestRenderBadInvocation(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{name: "unknown component", args: []string{"render", "local", "--component", "trainer"},
			want: []string{`unknown component "trainer"`, "known components: feature-store, logging, model-serving, monitoring, platform, training"}},
		{name: "unknown environment", args: []string{"render", "prod"}, want: []string{`unknown environment "prod"`, "ci, local, staging"}},
		{name: "unknown output", args: []string{"render", "-o", "xml"}, want: []string{`unknown output format "xml"`}},
		{name: "output dir with json", args: []string{"render", "-o", "json", "--output-dir", "x"}, want: []string{"--output-dir writes YAML"}},
		{name: "two environments", args: []string{"render", "local", "ci"}, want: []string{"accepts at most 1 arg", "envctl render --help"}},
		{name: "bad kube version", args: []string{"render", "ci", "--render-kube-version", "newest"}, want: []string{"newest"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runRenderCLI(t, append(tt.args, "-C", platformRepo)...)
			if code != ExitInput {
				t.Errorf("exit %d, want %d (bad input)", code, ExitInput)
			}
			if out != "" {
				t.Errorf("stdout: %q", out)
			}
			for _, w := range tt.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr does not mention %q: %q", w, errOut)
				}
			}
		})
	}
}

// TestRenderSecretNeverInErrors renders a repository whose broken manifest
// holds a Secret value, with verbose logging: the error names the file but
// neither stream shows the value.
func TestRenderSecretNeverInErrors(t *testing.T) {
	const canary = "cli-render-canary-2718"
	dir := t.TempDir()
	files := map[string]string{
		"config.yaml": "apiVersion: envctl.dev/v1alpha1\nkind: Config\nmetadata:\n  name: t\nspec:\n  defaultEnvironment: dev\n",
		"environments/dev.yaml": "apiVersion: envctl.dev/v1alpha1\nkind: Environment\nmetadata:\n  name: dev\nspec:\n  cluster:\n    provider: embedded\n" +
			"  components:\n    - name: good\n      kustomize: overlays/good\n    - name: bad\n      kustomize: overlays/bad\n",
		"overlays/good/kustomization.yaml": "resources:\n  - secret.yaml\n",
		"overlays/good/secret.yaml":        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\n  namespace: default\nstringData:\n  password: " + canary + "\n",
		"overlays/bad/kustomization.yaml":  "resources:\n  - secret.yaml\n",
		"overlays/bad/secret.yaml":         "apiVersion: v1\nkind: Secret\nmetadata:\n  name: broken\nstringData:\n  password: " + canary + "\n   token: [\n",
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	code, out, errOut := runRenderCLI(t, "render", "-C", dir, "-vv")
	if code != ExitInput {
		t.Errorf("exit %d, want %d", code, ExitInput)
	}
	if !strings.Contains(errOut, "component bad") || !strings.Contains(errOut, "secret.yaml") {
		t.Errorf("the error does not name the component and file: %q", errOut)
	}
	if strings.Contains(out+errOut, canary) {
		t.Errorf("the Secret value was printed:\nstdout: %s\nstderr: %s", out, errOut)
	}

	// Rendering only the good component prints the declared Secret: it is
	// the user's own state, as kustomize build prints it.
	code, out, errOut = runRenderCLI(t, "render", "-C", dir, "--component", "good", "-vv")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, canary) {
		t.Error("the declared Secret is missing from the output")
	}
	if strings.Contains(errOut, canary) {
		t.Errorf("the Secret value is in the logs: %s", errOut)
	}
}

// TestRenderStagingSOPS: the platform's staging overlay takes the model
// server's Secret from its SOPS file, not the development placeholder;
// without a key nothing is printed and the error names the file, with the
// key from SOPS_AGE_KEY_FILE the value is masked unless --show-secrets.
func TestRenderStagingSOPS(t *testing.T) {
	const devPlaceholder = "dev-only-not-a-secret-do-not-use"
	const sopsFile = "overlays/staging/model-serving/secrets.sops.env"
	code, out, errOut := runRenderCLI(t, "render", "staging", "-C", platformRepo)
	if code != ExitInput || out != "" {
		t.Errorf("without a key: exit %d, stdout %d bytes; want exit %d and nothing printed", code, len(out), ExitInput)
	}
	for _, w := range []string{sopsFile, "SOPS_AGE_KEY_FILE", "--decryption-key-file"} {
		if !strings.Contains(errOut, w) {
			t.Errorf("without a key, stderr does not mention %q: %q", w, errOut)
		}
	}

	key, err := filepath.Abs(stagingKey)
	if err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		t.Helper()
		for _, k := range config.Keys() {
			t.Setenv(k.Env, "")
		}
		t.Setenv("XDG_CACHE_HOME", t.TempDir())
		t.Setenv("SOPS_AGE_KEY", "")
		t.Setenv("SOPS_AGE_KEY_FILE", key)
		var out, errOut bytes.Buffer
		if code := Main(append([]string{"render", "staging", "-C", platformRepo, "--component", "model-serving"}, args...),
			IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}); code != ExitOK {
			t.Fatalf("render staging %v with SOPS_AGE_KEY_FILE: exit %d: %s", args, code, errOut.String())
		}
		return out.String()
	}
	salt := func(doc string) string {
		t.Helper()
		i := strings.Index(doc, "# Source: model-serving/Secret/")
		if i < 0 {
			t.Fatalf("no Secret rendered:\n%s", doc)
		}
		_, after, ok := strings.Cut(doc[i:], "prediction-log-salt: ")
		if !ok {
			t.Fatalf("the Secret has no prediction-log-salt:\n%s", doc[i:])
		}
		v, _, _ := strings.Cut(after, "\n")
		return v
	}

	// YAML folds the long mask over two lines: compare its start.
	if got := salt(run()); !strings.HasPrefix(render.MaskedValue, strings.Trim(got, "'")) || len(got) < 20 {
		t.Errorf("render shows the staging salt as %q, want it masked", got)
	}
	shown := salt(run("--show-secrets"))
	plain, err := base64.StdEncoding.DecodeString(shown)
	if err != nil {
		t.Fatalf("--show-secrets: the salt %q is not base64", shown)
	}
	if string(plain) == devPlaceholder {
		t.Fatal("staging still takes the development placeholder")
	}
	if len(plain) != 48 {
		t.Errorf("the staging salt has %d characters, want the 48 the fixture holds", len(plain))
	}
	repoFile, err := os.ReadFile(filepath.Join(platformRepo, sopsFile))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(repoFile), string(plain)) {
		t.Errorf("%s holds the salt in clear", sopsFile)
	}
}
