package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"sigs.k8s.io/yaml"

	"github.com/envctl/envctl/internal/source/sourceflags"
)

// subcommand finds the command at path (such as "cluster prune") in a
// fresh command tree.
func subcommand(t *testing.T, f *Factory, path string) *cobra.Command {
	t.Helper()
	cmd, _, err := NewRootCmd(f).Find(strings.Fields(path))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return cmd
}

func testFactory(env map[string]string) *Factory {
	var out, errOut bytes.Buffer
	return &Factory{Streams: IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, Global: &GlobalOptions{},
		lookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
}

// --component takes repeated and comma-separated names alike in every
// command that has it.
func TestComponentFlagEveryCommand(t *testing.T) {
	for _, path := range []string{"up", "apply", "diff", "render", "test"} {
		t.Run(path, func(t *testing.T) {
			cmd := subcommand(t, testFactory(nil), path)
			if err := cmd.Flags().Parse([]string{"--component", "platform,serving", "--component", " monitoring ", "--component=platform"}); err != nil {
				t.Fatal(err)
			}
			fl := cmd.Flags().Lookup("component")
			got := fl.Value.(pflag.SliceValue).GetSlice()
			if want := []string{"platform", "serving", "monitoring"}; strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("--component = %q, want %q", got, want)
			}
			if err := fl.Value.Set("a,,b"); err == nil {
				t.Error("an empty name between commas was accepted")
			}
		})
	}
}

// Every -o that offers json offers yaml too.
func TestOutputYAMLWhereverJSON(t *testing.T) {
	var walk func(c *cobra.Command)
	checked := 0
	walk = func(c *cobra.Command) {
		if fl := c.Flags().Lookup("output"); fl != nil && strings.Contains(fl.Usage, "json") {
			checked++
			if !strings.Contains(fl.Usage, "yaml") {
				t.Errorf("%s: -o offers json but not yaml: %q", c.CommandPath(), fl.Usage)
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(NewRootCmd(testFactory(nil)))
	if checked < 15 {
		t.Errorf("only %d commands with -o json found", checked)
	}
}

// -o yaml is the document -o json prints.
func TestOutputYAMLIsTheJSONDocument(t *testing.T) {
	_, jsonOut, _ := runCLI(t, "version", "-o", "json")
	code, yamlOut, stderr := runCLI(t, "version", "-o", "yaml")
	if code != 0 {
		t.Fatalf("version -o yaml: exit %d\n%s", code, stderr)
	}
	var fromJSON, fromYAML map[string]any
	if err := json.Unmarshal([]byte(jsonOut), &fromJSON); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal([]byte(yamlOut), &fromYAML); err != nil {
		t.Fatalf("-o yaml: %v\n%s", err, yamlOut)
	}
	if len(fromJSON) == 0 || !jsonEqual(fromJSON, fromYAML) {
		t.Errorf("-o yaml %v differs from -o json %v", fromYAML, fromJSON)
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// NO_COLOR set and not empty turns colour (and the live view) off, as
// --no-color does; set but empty it does nothing (https://no-color.org).
func TestNoColorVariable(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want bool
	}{
		{nil, false},
		{map[string]string{"NO_COLOR": ""}, false},
		{map[string]string{"NO_COLOR": "1"}, true},
	} {
		f := testFactory(tc.env)
		root := NewRootCmd(f)
		root.SetArgs([]string{"version"})
		if err := root.Execute(); err != nil {
			t.Fatal(err)
		}
		if f.Global.NoColor != tc.want {
			t.Errorf("NO_COLOR in %v: colour off = %v, want %v", tc.env, f.Global.NoColor, tc.want)
		}
	}
}

// A source taken from ENVCTL_GIT, not from a flag, is named on the first
// line of the command's output.
func TestGitFromVariableSaysSo(t *testing.T) {
	const url = "file:///nonexistent/platform.git"
	t.Setenv("ENVCTL_GIT", url)
	_, _, stderr := runCLI(t, "render", "dev")
	first, _, _ := strings.Cut(stderr, "\n")
	if want := "Source: " + url + " from ENVCTL_GIT (not a flag); unset it to use the local repository"; first != want {
		t.Errorf("first line of stderr = %q, want %q\nstderr:\n%s", first, want, stderr)
	}
	_, _, stderr = runCLI(t, "render", "dev", "--git", url)
	if strings.Contains(stderr, "from ENVCTL_GIT") {
		t.Errorf("--git on the command line said it came from ENVCTL_GIT:\n%s", stderr)
	}
}

// --instance and ENVCTL_INSTANCE suffix the environment's cluster, the
// flag winning; an existing cluster cannot be an instance.
func TestInstanceFlagAndVariable(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	repo := writeRepoFiles(t, map[string]string{
		"config.yaml": "apiVersion: envctl.dev/v1alpha1\nkind: Config\nspec:\n  defaultEnvironment: dev\n",
		"environments/dev.yaml": "apiVersion: envctl.dev/v1alpha1\nkind: Environment\nmetadata: {name: dev}\n" +
			"spec:\n  cluster: {provider: embedded}\n  components:\n    - {name: app, kustomize: overlays/app}\n",
		"environments/shared.yaml": "apiVersion: envctl.dev/v1alpha1\nkind: Environment\nmetadata: {name: shared}\n" +
			"spec:\n  cluster: {provider: existing}\n  components:\n    - {name: app, kustomize: overlays/app}\n",
		"overlays/app/kustomization.yaml": "resources: []\n",
	})
	for _, tc := range []struct {
		name, env string
		args      []string
		want      string
	}{
		{"flag", "", []string{"--instance", "j1"}, "cluster envctl-dev-j1 does not exist; bring it up with `envctl up dev --instance j1`"},
		{"variable", "j2", nil, "cluster envctl-dev-j2 does not exist; bring it up with `envctl up dev --instance j2`"},
		{"flag over variable", "j2", []string{"--instance", "j3"}, "cluster envctl-dev-j3 does not exist"},
		{"none", "", nil, "cluster envctl-dev does not exist; bring it up with `envctl up dev`"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("ENVCTL_INSTANCE", tc.env)
			code, _, stderr := runCLI(t, append([]string{"status", "dev", "--repo", repo}, tc.args...)...)
			if code != ExitInput || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d saying %q", code, stderr, ExitInput, tc.want)
			}
		})
	}
	code, _, stderr := runCLI(t, "up", "shared", "--repo", repo, "--instance", "j1")
	if code != ExitInput || !strings.Contains(stderr, "--instance j1: environment shared uses an existing cluster") {
		t.Errorf("--instance on an existing cluster: exit %d\n%s", code, stderr)
	}
	code, _, stderr = runCLI(t, "up", "dev", "--repo", repo, "--instance", "Job_1")
	if code != ExitInput || !strings.Contains(stderr, `--instance "Job_1": use lowercase letters`) {
		t.Errorf("a bad --instance: exit %d\n%s", code, stderr)
	}
}

// A setting's variable under its earlier squashed name still works, with
// a warning naming the new one.
func TestLegacySettingVariableWarns(t *testing.T) {
	repo := writeRepo(t)
	t.Setenv("ENVCTL_APPLY_FIELDMANAGER", "ci-bot")
	code, stdout, stderr := runCLI(t, "config", "view", "--repo", repo)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stdout, "fieldManager: ci-bot") {
		t.Errorf("ENVCTL_APPLY_FIELDMANAGER not applied:\n%s", stdout)
	}
	if !strings.Contains(stderr, "Warning: environment variable ENVCTL_APPLY_FIELDMANAGER is deprecated; use ENVCTL_APPLY_FIELD_MANAGER (named as the flag --apply-field-manager)") {
		t.Errorf("no deprecation warning:\n%s", stderr)
	}
}

// The variables of the Git secrets, as the tests set them.
const (
	envGitPassword      = sourceflags.EnvGitPassword
	envSSHKeyPassphrase = sourceflags.EnvSSHKeyPassphrase
)
