package cli

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/envctl/envctl/internal/config"
)

func init() {
	// Several test files in this package register -update; the first wins.
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite the golden files under testdata/")
	}
}

// runConfigCLI runs envctl with args and returns the exit code and both streams.
func runConfigCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Main(args, IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	return code, out.String(), errOut.String()
}

// clearSettingsEnv unsets every ENVCTL_ setting variable for the test, so
// that a developer's shell does not change the output.
func clearSettingsEnv(t *testing.T) {
	for _, k := range config.Keys() {
		t.Setenv(k.Env, "")
	}
}

// checkConfigGolden compares got with testdata/configview/name, or rewrites
// it under -update.
func checkConfigGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "configview", name)
	if f := flag.Lookup("update"); f != nil && f.Value.String() == "true" {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", name, diff)
	}
}

func TestConfigView(t *testing.T) {
	const repo = "testdata/configview/repo"
	tests := []struct {
		name   string
		args   []string
		env    map[string]string
		golden string
	}{
		{name: "settings as YAML", args: []string{"config", "view"}, golden: "settings.yaml.golden"},
		{name: "environment as JSON", args: []string{"config", "view", "dev", "-o", "json"}, golden: "dev.json.golden"},
		{name: "environment as YAML", args: []string{"config", "view", "ci"}, golden: "ci.yaml.golden"},
		{
			name: "overrides with origins",
			args: []string{"config", "view", "--show-origin", "--apply-concurrency", "2", "--render-allow-remote-bases"},
			env: map[string]string{
				"ENVCTL_APPLY_CONCURRENCY": "3", "ENVCTL_PRUNE_MAX_FRACTION": "0.2",
				// Not envctl's: must never be printed.
				"SECRET_TOKEN": "hunter2", "ENVCTL_TOKEN": "hunter3",
			},
			golden: "origins.yaml.golden",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearSettingsEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			code, out, errOut := runConfigCLI(t, append([]string{"--repo", repo}, tt.args...)...)
			if code != ExitOK {
				t.Fatalf("exit %d, stderr:\n%s", code, errOut)
			}
			if errOut != "" {
				t.Errorf("unexpected stderr: %s", errOut)
			}
			for _, secret := range []string{"hunter2", "hunter3"} {
				if strings.Contains(out, secret) {
					t.Errorf("output contains the value of a foreign variable:\n%s", out)
				}
			}
			checkConfigGolden(t, tt.golden, out)
		})
	}
}

func TestConfigViewErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{
			name: "unknown environment",
			args: []string{"--repo", "testdata/configview/repo", "config", "view", "prod"},
			code: ExitInput,
			want: []string{`Error: unknown environment "prod"; known environments: ci, dev`},
		},
		{
			name: "too many arguments",
			args: []string{"--repo", "testdata/configview/repo", "config", "view", "dev", "ci"},
			code: ExitInput,
			want: []string{"accepts at most 1 arg(s), received 2", "See 'envctl config view --help'"},
		},
		{
			name: "unknown output format",
			args: []string{"--repo", "testdata/configview/repo", "config", "view", "-o", "xml"},
			code: ExitInput,
			want: []string{`unknown output format "xml": want yaml or json`},
		},
		{
			name: "bad flag value",
			args: []string{"--repo", "testdata/configview/repo", "config", "view", "--apply-concurrency", "many"},
			code: ExitInput,
			want: []string{`invalid argument "many" for "--apply-concurrency"`},
		},
		{
			name: "invalid override",
			args: []string{"--repo", "testdata/configview/repo", "config", "view", "--apply-concurrency", "0"},
			code: ExitInput,
			want: []string{"flag --apply-concurrency: spec.apply.concurrency: must be at least 1, got 0"},
		},
		{
			name: "broken environment names file, line and field",
			args: []string{"--repo", "testdata/configview/broken", "config", "view", "bad"},
			code: ExitInput,
			want: []string{`environments/bad.yaml:9:7: spec.components[0]: unknown field "dependson" (did you mean "dependsOn"?)`},
		},
		{
			name: "no repository",
			args: []string{"--repo", "/", "config", "view"},
			code: ExitInput,
			want: []string{"no envctl repository found"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearSettingsEnv(t)
			code, out, errOut := runConfigCLI(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tt.code, errOut)
			}
			if out != "" {
				t.Errorf("stdout is not empty:\n%s", out)
			}
			for _, w := range tt.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr does not contain %q:\n%s", w, errOut)
				}
			}
		})
	}
}

func TestConfigViewHelp(t *testing.T) {
	code, out, _ := runConfigCLI(t, "config", "view", "--help")
	if code != ExitOK {
		t.Fatalf("exit %d", code)
	}
	for _, k := range config.Keys() {
		if !strings.Contains(out, k.Env) || !strings.Contains(out, "--"+k.Flag) {
			t.Errorf("help does not document %s (%s, --%s)", k.Name, k.Env, k.Flag)
		}
	}
	if !strings.Contains(out, "Examples:") {
		t.Error("help has no examples")
	}
}
