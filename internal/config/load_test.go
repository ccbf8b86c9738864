package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"

	"github.com/envctl/envctl/internal/errs"
)

// writeRepo writes files (slash paths relative to the root) into a new
// directory and returns its symlink-free path.
func writeRepo(t *testing.T, files map[string]string) string {
	t.Helper()
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func envMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

const configHeader = "apiVersion: envctl.dev/v1alpha1\nkind: Config\n"

func TestLoadPrecedence(t *testing.T) {
	fileSpec := configHeader + `spec:
  defaultEnvironment: staging
  render: {concurrency: 2, kubeVersion: v1.33.0}
  apply:
    concurrency: 8
    timeout: 1m
    forceConflicts: true
  prune: {enabled: false, maxFraction: 0.3}
`
	defaults := DefaultSettings()
	fromFile := DefaultSettings()
	fromFile.DefaultEnvironment = "staging"
	fromFile.Render.Concurrency = 2
	fromFile.Render.KubeVersion = "v1.33.0"
	fromFile.Apply.Concurrency = 8
	fromFile.Apply.Timeout = Duration{time.Minute}
	fromFile.Apply.ForceConflicts = true
	fromFile.Prune.Enabled = ptr(false)
	fromFile.Prune.MaxFraction = 0.3

	tests := []struct {
		name    string
		file    string
		env     map[string]string
		flags   []string
		want    func(*Settings)
		origins map[string]string
	}{
		{
			name: "defaults",
			file: configHeader,
			want: func(s *Settings) { *s = defaults },
			origins: map[string]string{
				"apply.concurrency": "default", "apply.timeout": "default", "prune.enabled": "default",
			},
		},
		{
			name: "file over defaults",
			file: fileSpec,
			want: func(s *Settings) { *s = fromFile },
			origins: map[string]string{
				"apply.concurrency": "config.yaml:7", "apply.fieldManager": "default", "render.kubeVersion": "config.yaml:5",
			},
		},
		{
			name: "environment over file",
			file: fileSpec,
			env: map[string]string{
				"ENVCTL_APPLY_CONCURRENCY": "3", "ENVCTL_APPLY_TIMEOUT": "90s", "ENVCTL_PRUNE_ENABLED": "true",
				"ENVCTL_PRUNE_MAX_FRACTION": "0.9", "ENVCTL_DEFAULT_ENVIRONMENT": "dev",
				"ENVCTL_APPLY_FIELD_MANAGER": "ci-bot",
				// An empty variable counts as unset.
				"ENVCTL_RENDER_CONCURRENCY": "",
			},
			want: func(s *Settings) {
				*s = fromFile
				s.Apply.Concurrency = 3
				s.Apply.Timeout = Duration{90 * time.Second}
				s.Prune.Enabled = ptr(true)
				s.Prune.MaxFraction = 0.9
				s.DefaultEnvironment = "dev"
				s.Apply.FieldManager = "ci-bot"
			},
			origins: map[string]string{
				"apply.concurrency":  "environment variable ENVCTL_APPLY_CONCURRENCY",
				"render.concurrency": "config.yaml:5",
			},
		},
		{
			name: "flag over environment",
			file: fileSpec,
			env:  map[string]string{"ENVCTL_APPLY_CONCURRENCY": "3", "ENVCTL_APPLY_TIMEOUT": "90s"},
			flags: []string{"--apply-concurrency=5", "--apply-timeout=10m", "--prune-enabled=true",
				"--default-environment=qa", "--prune-max-fraction=1"},
			want: func(s *Settings) {
				*s = fromFile
				s.Apply.Concurrency = 5
				s.Apply.Timeout = Duration{10 * time.Minute}
				s.Prune.Enabled = ptr(true)
				s.Prune.MaxFraction = 1
				s.DefaultEnvironment = "qa"
			},
			origins: map[string]string{
				"apply.concurrency": "flag --apply-concurrency",
				"apply.timeout":     "flag --apply-timeout",
			},
		},
		{
			name:  "flags left unset do not shadow the file",
			file:  fileSpec,
			env:   map[string]string{"ENVCTL_APPLY_CONCURRENCY": "3"},
			flags: []string{},
			want: func(s *Settings) {
				*s = fromFile
				s.Apply.Concurrency = 3
			},
			origins: map[string]string{"apply.timeout": "config.yaml:8"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := writeRepo(t, map[string]string{"config.yaml": tt.file})
			opts := LoadOptions{Dir: root, LookupEnv: envMap(tt.env)}
			if tt.flags != nil {
				fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
				BindFlags(fs)
				if err := fs.Parse(tt.flags); err != nil {
					t.Fatal(err)
				}
				opts.Flags = fs
			}
			r, err := Load(opts)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			var want Settings
			tt.want(&want)
			if diff := cmp.Diff(want, r.Config.Spec); diff != "" {
				t.Errorf("settings (-want +got):\n%s", diff)
			}
			for key, want := range tt.origins {
				if got := r.Origin(key); got != want {
					t.Errorf("Origin(%s) = %q, want %q", key, got, want)
				}
			}
		})
	}
}

func TestBindFlagsSubset(t *testing.T) {
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	BindFlags(fs, "apply.concurrency", "prune.enabled")
	var got []string
	fs.VisitAll(func(f *pflag.Flag) { got = append(got, f.Name) })
	if diff := cmp.Diff([]string{"apply-concurrency", "prune-enabled"}, got); diff != "" {
		t.Errorf("flags (-want +got):\n%s", diff)
	}
	defer func() {
		if recover() == nil {
			t.Error("BindFlags with an unknown setting did not panic")
		}
	}()
	BindFlags(fs, "apply.concurency")
}

func TestKeysNaming(t *testing.T) {
	want := map[string][2]string{
		"defaultEnvironment": {"default-environment", "ENVCTL_DEFAULT_ENVIRONMENT"},
		"apply.concurrency":  {"apply-concurrency", "ENVCTL_APPLY_CONCURRENCY"},
		"prune.maxFraction":  {"prune-max-fraction", "ENVCTL_PRUNE_MAX_FRACTION"},
		"apply.fieldManager": {"apply-field-manager", "ENVCTL_APPLY_FIELD_MANAGER"},
	}
	found := 0
	for _, k := range Keys() {
		if w, ok := want[k.Name]; ok {
			found++
			if k.Flag != w[0] || k.Env != w[1] {
				t.Errorf("%s: flag %q env %q, want %q %q", k.Name, k.Flag, k.Env, w[0], w[1])
			}
		}
	}
	if found != len(want) {
		t.Errorf("found %d of %d expected keys", found, len(want))
	}
}

// The squashed names of earlier releases still work, each with a warning
// naming its replacement; the new name wins when both are set.
func TestLoadLegacyEnvNames(t *testing.T) {
	root := writeRepo(t, map[string]string{"config.yaml": configHeader})
	tests := []struct {
		name     string
		env      map[string]string
		want     string
		origin   string
		warnings []string
	}{
		{
			name:     "old name alone",
			env:      map[string]string{"ENVCTL_DEFAULTENVIRONMENT": "dev"},
			want:     "dev",
			origin:   "environment variable ENVCTL_DEFAULTENVIRONMENT",
			warnings: []string{"environment variable ENVCTL_DEFAULTENVIRONMENT is deprecated; use ENVCTL_DEFAULT_ENVIRONMENT (named as the flag --default-environment)"},
		},
		{
			name:     "both names",
			env:      map[string]string{"ENVCTL_DEFAULTENVIRONMENT": "dev", "ENVCTL_DEFAULT_ENVIRONMENT": "qa"},
			want:     "qa",
			origin:   "environment variable ENVCTL_DEFAULT_ENVIRONMENT",
			warnings: []string{"environment variable ENVCTL_DEFAULTENVIRONMENT is deprecated and ignored: ENVCTL_DEFAULT_ENVIRONMENT is set too, and wins"},
		},
		{
			name:   "new name alone",
			env:    map[string]string{"ENVCTL_DEFAULT_ENVIRONMENT": "qa"},
			want:   "qa",
			origin: "environment variable ENVCTL_DEFAULT_ENVIRONMENT",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var warnings []string
			r, err := Load(LoadOptions{Dir: root, LookupEnv: envMap(tt.env), Warn: func(m string) { warnings = append(warnings, m) }})
			if err != nil {
				t.Fatal(err)
			}
			if got := r.Config.Spec.DefaultEnvironment; got != tt.want {
				t.Errorf("defaultEnvironment = %q, want %q", got, tt.want)
			}
			if got := r.Origin("defaultEnvironment"); got != tt.origin {
				t.Errorf("origin = %q, want %q", got, tt.origin)
			}
			if diff := cmp.Diff(tt.warnings, warnings); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadBadOverrides(t *testing.T) {
	tests := []struct {
		name  string
		file  string
		env   map[string]string
		flags []string
		want  []string
	}{
		{
			name: "variable of the wrong type",
			file: configHeader,
			env:  map[string]string{"ENVCTL_APPLY_CONCURRENCY": "lots", "ENVCTL_APPLY_TIMEOUT": "30"},
			want: []string{
				`environment variable ENVCTL_APPLY_CONCURRENCY: "lots" is not an integer`,
				`environment variable ENVCTL_APPLY_TIMEOUT: "30" is not a duration; write it with a unit`,
			},
		},
		{
			name: "invalid value from a variable is blamed on the variable",
			file: configHeader + "spec:\n  apply:\n    concurrency: 4\n",
			env:  map[string]string{"ENVCTL_APPLY_CONCURRENCY": "0"},
			want: []string{"environment variable ENVCTL_APPLY_CONCURRENCY: spec.apply.concurrency: must be at least 1, got 0"},
		},
		{
			name:  "invalid value from a flag is blamed on the flag",
			file:  configHeader,
			flags: []string{"--prune-max-fraction=0"},
			want:  []string{"flag --prune-max-fraction: spec.prune.maxFraction: must be more than 0 and at most 1, got 0"},
		},
		{
			name: "invalid values in the file are located",
			file: configHeader + `spec:
  defaultEnvironment: Local_Env
  render: {concurrency: 0, kubeVersion: latest}
  apply:
    fieldManager: ""
    timeout: -1m
  prune:
    maxFraction: 1.5
`,
			want: []string{
				`config.yaml:4:23: spec.defaultEnvironment: "Local_Env" is not a valid environment name`,
				`config.yaml:5:25: spec.render.concurrency: must be at least 1, got 0`,
				`config.yaml:5:41: spec.render.kubeVersion: "latest" is not a Kubernetes version`,
				`config.yaml:7:19: spec.apply.fieldManager: must be 1 to 128 characters long`,
				`config.yaml:8:14: spec.apply.timeout: must be positive, got -1m`,
				`config.yaml:10:18: spec.prune.maxFraction: must be more than 0 and at most 1, got 1.5`,
			},
		},
		{
			name: "environments directory outside the repository",
			file: configHeader + "spec:\n  environmentsDir: ../elsewhere\n",
			want: []string{`config.yaml:4:20: spec.environmentsDir: path "../elsewhere" escapes the repository root`},
		},
		{
			name: "unknown key in config.yaml",
			file: configHeader + "spec:\n  apply:\n    concurency: 4\n",
			want: []string{`config.yaml:5:5: spec.apply: unknown field "concurency" (did you mean "concurrency"?)`},
		},
		{
			name: "wrong kind",
			file: "apiVersion: envctl.dev/v1alpha1\nkind: Environment\n",
			want: []string{`config.yaml:2:7: kind: kind is "Environment"; a config.yaml file holds kind Config`},
		},
		{
			name: "unsupported version",
			file: "apiVersion: envctl.dev/v1\nkind: Config\n",
			want: []string{`config.yaml:1:13: apiVersion: unsupported apiVersion "envctl.dev/v1"; this envctl reads envctl.dev/v1alpha1`},
		},
		{
			name: "malformed YAML",
			file: "apiVersion: envctl.dev/v1alpha1\nkind: Config\nspec:\n  apply: [\n",
			want: []string{`config.yaml:4:10: invalid YAML: did not find expected node content`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := writeRepo(t, map[string]string{"config.yaml": tt.file})
			opts := LoadOptions{Dir: root, LookupEnv: envMap(tt.env)}
			if tt.flags != nil {
				fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
				BindFlags(fs)
				if err := fs.Parse(tt.flags); err != nil {
					t.Fatal(err)
				}
				opts.Flags = fs
			}
			_, err := Load(opts)
			assertProblems(t, err, tt.want)
		})
	}
}

// assertProblems checks that err is bad input made of exactly the wanted
// problems, each given as a prefix of its line.
func assertProblems(t *testing.T, err error, want []string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want %q", want)
	}
	if k := errs.KindOf(err); k != errs.KindInput {
		t.Errorf("error kind %v, want input: %v", k, err)
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want) {
		t.Errorf("got %d problems, want %d:\n%v", len(lines), len(want), err)
	}
	for _, w := range want {
		found := false
		for _, l := range lines {
			found = found || strings.HasPrefix(l, w)
		}
		if !found {
			t.Errorf("no problem starting with\n  %s\nin\n  %s", w, strings.ReplaceAll(err.Error(), "\n", "\n  "))
		}
	}
}

func TestFindRoot(t *testing.T) {
	root := writeRepo(t, map[string]string{
		"config.yaml":              configHeader,
		"overlays/app/config.yaml": "# another tool's file\nlogLevel: debug\n",
		"overlays/app/deep/x.txt":  "",
	})
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(filepath.Join(root, "overlays"), link); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{root, filepath.Join(root, "overlays/app/deep"), link} {
		r, err := Load(LoadOptions{Dir: dir, LookupEnv: envMap(nil)})
		if err != nil {
			t.Fatalf("Load(%s): %v", dir, err)
		}
		if r.Root != root || r.File != filepath.Join(root, "config.yaml") {
			t.Errorf("Load(%s): root %s file %s, want root %s", dir, r.Root, r.File, root)
		}
	}

	outside := writeRepo(t, map[string]string{"sub/config.yaml": "logLevel: debug\n"})
	_, err := Load(LoadOptions{Dir: filepath.Join(outside, "sub"), LookupEnv: envMap(nil)})
	if errs.KindOf(err) != errs.KindInput || !strings.Contains(err.Error(), "no envctl repository found") ||
		!strings.Contains(err.Error(), "skipped "+filepath.Join(outside, "sub", "config.yaml")) {
		t.Errorf("Load outside any repository: %v", err)
	}

	// With NoSearch, Dir must be the root itself.
	_, err = Load(LoadOptions{Dir: filepath.Join(root, "overlays"), NoSearch: true, LookupEnv: envMap(nil)})
	if err == nil || !strings.Contains(err.Error(), "no envctl repository found") {
		t.Errorf("Load with NoSearch below the root: %v", err)
	}
	if _, err := Load(LoadOptions{Dir: root, NoSearch: true, LookupEnv: envMap(nil)}); err != nil {
		t.Errorf("Load with NoSearch at the root: %v", err)
	}

	// A config.yaml that names envctl but is broken is reported, not skipped.
	broken := writeRepo(t, map[string]string{"config.yaml": "apiVersion: envctl.dev/v1alpha1\nkind: [\n"})
	_, err = Load(LoadOptions{Dir: broken, LookupEnv: envMap(nil)})
	if err == nil || !strings.HasPrefix(err.Error(), "config.yaml:2:7: invalid YAML") {
		t.Errorf("Load of broken config.yaml: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }
