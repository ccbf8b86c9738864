package render

import (
	"bytes"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/source"
)

// copyFixture copies testdata/repo into a temporary directory that a test
// may break.
func copyFixture(t testing.TB) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir("testdata/repo", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("testdata/repo", p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func write(t testing.TB, dir, rel, content string) {
	t.Helper()
	p := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func component(env *config.Environment, name string) *config.Component {
	return env.Component(name)
}

func TestRenderBadInput(t *testing.T) {
	outside := t.TempDir()
	write(t, outside, "secret.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: stolen\nstringData:\n  key: "+canary+"\n")
	write(t, outside, "chart/Chart.yaml", "apiVersion: v2\nname: outside\nversion: 0.1.0\n")
	write(t, outside, "values.yaml", "replicas: 1\n")

	tests := []struct {
		name string
		// setup breaks the copied repository at dir.
		setup func(t *testing.T, dir string)
		// env changes the environment.
		env  func(env *config.Environment)
		opts func(o *Options)
		// want are substrings the message must contain.
		want []string
	}{
		{
			name: "malformed kustomization",
			setup: func(t *testing.T, dir string) {
				write(t, dir, "overlays/dev/kustomization.yaml", "resources:\n  - namespace.yaml\n namespace: dev\n")
			},
			want: []string{"component app", "overlays/dev/kustomization.yaml:2", "invalid kustomization"},
		},
		{
			name: "unknown field in kustomization",
			setup: func(t *testing.T, dir string) {
				write(t, dir, "overlays/dev/kustomization.yaml", "resources:\n  - namespace.yaml\nnamePrefx: x-\n")
			},
			want: []string{"overlays/dev/kustomization.yaml:3", `unknown field "namePrefx"`},
		},
		{
			name: "malformed manifest",
			setup: func(t *testing.T, dir string) {
				write(t, dir, "bases/app/service.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: app\n spec: {}\n")
			},
			want: []string{"component app", "kustomize build overlays/dev: bases/app/service.yaml: line 4: did not find expected key"},
		},
		{
			name: "malformed manifest holding a secret",
			setup: func(t *testing.T, dir string) {
				write(t, dir, "bases/app/service.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: "+canary+"\n   user: [x\n")
			},
			want: []string{"component app", "bases/app/service.yaml: line 7"},
		},
		{
			name: "missing overlay",
			env:  func(env *config.Environment) { component(env, "app").Kustomize = "overlays/nope" },
			want: []string{"component app", `"overlays/nope" does not exist`},
		},
		{
			name: "missing resource in kustomization",
			setup: func(t *testing.T, dir string) {
				write(t, dir, "overlays/dev/kustomization.yaml", "resources:\n  - namespace.yaml\n  - gone.yaml\n")
			},
			want: []string{"overlays/dev/kustomization.yaml:3", `resources entry "gone.yaml"`, "overlays/dev/gone.yaml does not exist"},
		},
		{
			name: "missing chart",
			env:  func(env *config.Environment) { component(env, "demo").Helm.Chart = "charts/nope" },
			want: []string{"component demo", `chart "charts/nope" does not exist`},
		},
		{
			name: "missing values file",
			env: func(env *config.Environment) {
				h := component(env, "demo").Helm
				h.ValuesFiles = append(h.ValuesFiles, "values/missing.yaml")
			},
			want: []string{"component demo", `values file "values/missing.yaml" does not exist`},
		},
		{
			name: "malformed values file",
			setup: func(t *testing.T, dir string) {
				write(t, dir, "values/demo-dev.yaml", "logLevel: debug\n replicas: 2\n")
			},
			want: []string{"component demo", "values/demo-dev.yaml: line 2"},
		},
		{
			name: "values against the schema",
			env: func(env *config.Environment) {
				h := component(env, "demo").Helm
				h.Values = map[string]any{"replicas": "three", "logLevel": "loud", "image": map[string]any{"tag": "Not-" + canary + "-OK"}}
			},
			want: []string{"component demo", "chart charts/demo", "values.schema.json", "replicas: got string, want integer", "image.tag: does not match pattern", "logLevel: value must be one of"},
		},
		{
			name: "template failure",
			setup: func(t *testing.T, dir string) {
				write(t, dir, "charts/demo/templates/bad.yaml", "{{ required \"set .Values.missing\" .Values.missing }}\n")
			},
			want: []string{"component demo", "demo/templates/bad.yaml", "set .Values.missing"},
		},
		{
			name: "object emitted by two components",
			setup: func(t *testing.T, dir string) {
				write(t, dir, "charts/demo/templates/ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: dev\n")
			},
			want: []string{"object core/Namespace/-/dev", "two components, app and demo"},
		},
		{
			name: "unknown component",
			opts: func(o *Options) { o.Components = []string{"demo", "trainer"} },
			want: []string{`unknown component "trainer"`, "environments/dev.yaml", "known components: app, demo"},
		},
		{
			name: "kustomization outside the repository",
			env:  func(env *config.Environment) { component(env, "app").Kustomize = "../outside" },
			want: []string{"component app", `"../outside" escapes the repository root`},
		},
		{
			name: "kustomize resource outside the repository",
			setup: func(t *testing.T, dir string) {
				write(t, dir, "overlays/dev/kustomization.yaml", "resources:\n  - namespace.yaml\n  - ../../../../../../../../../"+outside+"/secret.yaml\n")
			},
			want: []string{"overlays/dev/kustomization.yaml:3", "escapes the repository root"},
		},
		{
			name: "kustomize resource symlinked out of the repository",
			setup: func(t *testing.T, dir string) {
				symlink(t, filepath.Join(outside, "secret.yaml"), filepath.Join(dir, "overlays/dev/stolen.yaml"))
				write(t, dir, "overlays/dev/kustomization.yaml", "resources:\n  - namespace.yaml\n  - stolen.yaml\n")
			},
			want: []string{"overlays/dev/kustomization.yaml:3", "escapes the repository root through a symlink"},
		},
		{
			name: "kustomization file symlinked out of the repository",
			setup: func(t *testing.T, dir string) {
				write(t, outside, "kust/kustomization.yaml", "resources:\n  - ../secret.yaml\n")
				os.Remove(filepath.Join(dir, "overlays/dev/kustomization.yaml"))
				symlink(t, filepath.Join(outside, "kust/kustomization.yaml"), filepath.Join(dir, "overlays/dev/kustomization.yaml"))
			},
			want: []string{"component app", `"overlays/dev/kustomization.yaml" escapes the repository root through a symlink`},
		},
		{
			name: "generator file symlinked out of the repository",
			setup: func(t *testing.T, dir string) {
				symlink(t, outside, filepath.Join(dir, "overlays/dev/ext"))
				write(t, dir, "overlays/dev/kustomization.yaml", "resources:\n  - namespace.yaml\nconfigMapGenerator:\n  - name: x\n    files:\n      - ext/values.yaml\n")
			},
			want: []string{"overlays/dev/kustomization.yaml:6", `files entry "ext/values.yaml"`, "escapes the repository root"},
		},
		{
			name: "chart with a symlink out of the repository",
			setup: func(t *testing.T, dir string) {
				symlink(t, filepath.Join(outside, "secret.yaml"), filepath.Join(dir, "charts/demo/templates/stolen.yaml"))
			},
			want: []string{"component demo", "charts/demo/templates/stolen.yaml", "escapes the repository root through a symlink"},
		},
		{
			name: "chart outside the repository",
			env:  func(env *config.Environment) { component(env, "demo").Helm.Chart = "../chart" },
			want: []string{"component demo", `"../chart" escapes the repository root`},
		},
		{
			name: "values file symlinked out of the repository",
			setup: func(t *testing.T, dir string) {
				symlink(t, filepath.Join(outside, "values.yaml"), filepath.Join(dir, "values/ext.yaml"))
			},
			env: func(env *config.Environment) {
				h := component(env, "demo").Helm
				h.ValuesFiles = append(h.ValuesFiles, "values/ext.yaml")
			},
			want: []string{"component demo", `"values/ext.yaml" escapes the repository root through a symlink`},
		},
		{
			name: "remote base",
			setup: func(t *testing.T, dir string) {
				write(t, dir, "overlays/dev/kustomization.yaml", "resources:\n  - namespace.yaml\n  - github.com/example/platform//deploy/base?ref=v1.2.0\n")
			},
			want: []string{"overlays/dev/kustomization.yaml:3", `resources entry "github.com/example/platform//deploy/base?ref=v1.2.0" is remote`, "render.allowRemoteBases"},
		},
		{
			name: "remote resource URL in a nested base",
			setup: func(t *testing.T, dir string) {
				write(t, dir, "bases/app/kustomization.yaml", "resources:\n  - deployment.yaml\n  - https://raw.githubusercontent.com/example/x/main/crd.yaml\n")
			},
			want: []string{"bases/app/kustomization.yaml:3", "is remote"},
		},
		{
			name: "failures of several components are all reported",
			env: func(env *config.Environment) {
				component(env, "app").Kustomize = "overlays/nope"
				component(env, "demo").Helm.Chart = "charts/nope"
			},
			want: []string{"component app", "overlays/nope", "component demo", "charts/nope"},
		},
		{
			name: "object without a name",
			setup: func(t *testing.T, dir string) {
				write(t, dir, "charts/demo/templates/anon.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  generateName: anon-\n")
			},
			want: []string{"component demo", "demo/templates/anon.yaml", `generateName "anon-"`, "metadata.name is required"},
		},
		{
			name: "bad kube version",
			opts: func(o *Options) { o.Settings.KubeVersion = "latest" },
			want: []string{`render.kubeVersion "latest"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := copyFixture(t)
			if tt.setup != nil {
				tt.setup(t, dir)
			}
			var logs bytes.Buffer
			_, err := renderFixture(t, dir, func(o *Options) {
				o.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
				if tt.env != nil {
					tt.env(o.Environment)
				}
				if tt.opts != nil {
					tt.opts(o)
				}
			})
			if err == nil {
				t.Fatal("render succeeded, want an error")
			}
			if k := errs.KindOf(err); k != errs.KindInput {
				t.Errorf("error kind = %v, want input: %v", k, err)
			}
			msg := err.Error()
			t.Logf("error: %s", msg)
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error does not mention %q:\n%s", w, msg)
				}
			}
			// The repository root is never spelled out; paths are relative
			// to it. (A symlink's target outside the repository is named.)
			for _, leak := range []string{canary, dir + "/"} {
				if strings.Contains(msg, leak) {
					t.Errorf("error contains %q:\n%s", leak, msg)
				}
			}
			if strings.Contains(logs.String(), canary) {
				t.Errorf("logs contain the Secret value:\n%s", logs.String())
			}
		})
	}
}

// TestRenderEscapeIsEscapeError checks that path escapes keep their type, so
// that callers can tell them apart.
func TestRenderEscapeIsEscapeError(t *testing.T) {
	dir := copyFixture(t)
	_, err := renderFixture(t, dir, func(o *Options) { o.Environment.Component("app").Kustomize = "../x" })
	var ee *source.EscapeError
	if !errors.As(err, &ee) {
		t.Fatalf("error %v is not an EscapeError", err)
	}
}

func TestRenderAllowsRemoteWhenConfigured(t *testing.T) {
	// With remote bases allowed the scan lets the entry through and
	// kustomize itself tries to fetch it; with no network (or no git) that
	// fails, but not with envctl's offline refusal.
	dir := copyFixture(t)
	write(t, dir, "overlays/dev/kustomization.yaml", "resources:\n  - namespace.yaml\n  - https://127.0.0.1:1/crd.yaml\n")
	_, err := renderFixture(t, dir, func(o *Options) { o.Settings.AllowRemoteBases = true })
	if err == nil {
		t.Fatal("render of an unreachable URL succeeded")
	}
	if strings.Contains(err.Error(), "allowRemoteBases") {
		t.Errorf("remote entry refused although allowed: %v", err)
	}
}
