package config

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/envctl/envctl/internal/errs"
)

func TestDecodeYAMLFeatures(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want func(*Environment)
		errs []string
	}{
		{
			name: "anchors and aliases are expanded",
			doc: header + `  components:
    - name: a
      kustomize: overlays/a
      timeout: &t 90s
    - name: b
      kustomize: overlays/b
      timeout: *t
      dependsOn: &deps [a]
    - name: c
      kustomize: overlays/c
      dependsOn: *deps
`,
			want: func(e *Environment) {
				e.Spec.Components = []Component{
					{Name: "a", Kustomize: "overlays/a", Timeout: Duration{90 * time.Second}},
					{Name: "b", Kustomize: "overlays/b", Timeout: Duration{90 * time.Second}, DependsOn: []string{"a"}},
					{Name: "c", Kustomize: "overlays/c", DependsOn: []string{"a"}},
				}
			},
		},
		{
			name: "scalars are read as written into strings",
			doc: header + `  cluster:
    embedded:
      nodes: [{capacity: {cpu: 8, memory: 1.50Gi}, labels: {gpu: true, tier: 1.20}}]
  components:
    - name: a
      helm: {chart: app, repo: "https://r.example", version: 1.20}
`,
			want: func(e *Environment) {
				e.Spec.Cluster.Embedded = &EmbeddedSpec{Nodes: []NodePool{{
					Capacity: map[string]string{"cpu": "8", "memory": "1.50Gi"},
					Labels:   map[string]string{"gpu": "true", "tier": "1.20"},
				}}}
				e.Spec.Components = []Component{{Name: "a", Helm: &HelmRelease{Chart: "app", Repo: "https://r.example", Version: "1.20"}}}
			},
		},
		{
			name: "null leaves the default",
			doc:  header + "  cluster: ~\n  components:\n    - {name: a, kustomize: x, wait: null, helm: null}\n",
			want: func(e *Environment) {
				e.Spec.Components = []Component{{Name: "a", Kustomize: "x"}}
			},
		},
		{
			name: "merge keys are refused",
			doc:  header + "  components:\n    - &base {name: a, kustomize: x}\n    - <<: *base\n      name: b\n",
			errs: []string{`environments/local.yaml:8:7: spec.components[1]: merge keys (<<) are not supported`},
		},
		{
			name: "integers out of range",
			doc:  header + "  cluster:\n    kind:\n      nodes: [{role: worker, extraPortMappings: [{containerPort: 99999999999}]}]\n",
			errs: []string{`environments/local.yaml:8:66: spec.cluster.kind.nodes[0].extraPortMappings[0].containerPort: integer 99999999999 is out of range`},
		},
		{
			name: "values: non-finite numbers and non-string keys",
			doc:  header + "  components:\n    - name: a\n      helm:\n        chart: x\n        values: {a: .inf, [1]: 2}\n",
			errs: []string{
				`environments/local.yaml:10:21: spec.components[0].helm.values["a"]: .inf is not a finite number`,
				`environments/local.yaml:10:27: spec.components[0].helm.values: keys must be strings, got a list`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Environment
			_, err := decodeFile("environments/local.yaml", []byte(tt.doc), &got)
			if tt.errs != nil {
				assertProblems(t, err, tt.errs)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := Environment{APIVersion: APIVersion, Kind: KindEnvironment, Metadata: Metadata{Name: "local"}}
			tt.want(&want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("decoded (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeBounds(t *testing.T) {
	// Nine levels of nine-fold aliases would expand to 9^9 nodes.
	var b strings.Builder
	b.WriteString(header + "  components:\n    - name: a\n      helm:\n        chart: x\n        values:\n")
	b.WriteString("          l0: &l0 [x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 9; i++ {
		b.WriteString("          l" + string(rune('0'+i)) + ": &l" + string(rune('0'+i)) + " [")
		for j := range 9 {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*l" + string(rune('0'+i-1)))
		}
		b.WriteString("]\n")
	}
	start := time.Now()
	var env Environment
	_, err := decodeFile("bomb.yaml", []byte(b.String()), &env)
	if err == nil || !strings.Contains(err.Error(), "document is too large") {
		t.Errorf("alias bomb: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("alias bomb took %s", d)
	}

	big := make([]byte, maxFileSize+1)
	_, err = decodeFile("big.yaml", big, &env)
	if err == nil || !strings.Contains(err.Error(), "configuration files are limited to") || errs.KindOf(err) != errs.KindInput {
		t.Errorf("oversized file: %v", err)
	}

	deep := header + "  components:\n    - name: a\n      helm:\n        chart: x\n        values: {a: " +
		strings.Repeat("[", maxDepth+5) + strings.Repeat("]", maxDepth+5) + "}\n"
	_, err = decodeFile("deep.yaml", []byte(deep), &env)
	if err == nil || !strings.Contains(err.Error(), "nested more than") {
		t.Errorf("deep values: %v", err)
	}
}

func TestDurationJSON(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{0, `"0s"`}, {90 * time.Second, `"1m30s"`}, {5 * time.Minute, `"5m"`},
		{time.Hour, `"1h"`}, {90 * time.Minute, `"1h30m"`}, {1500 * time.Millisecond, `"1.5s"`},
	} {
		b, err := Duration{tt.d}.MarshalJSON()
		if err != nil || string(b) != tt.want {
			t.Errorf("MarshalJSON(%s) = %s, %v; want %s", tt.d, b, err, tt.want)
		}
		var back Duration
		if err := back.UnmarshalJSON(b); err != nil || back.Duration != tt.d {
			t.Errorf("UnmarshalJSON(%s) = %s, %v", b, back, err)
		}
	}
	var d Duration
	if err := d.UnmarshalJSON([]byte(`30`)); err == nil {
		t.Error("UnmarshalJSON(30) accepted a bare number")
	}
}

var fuzzSeedDirs = []string{"testdata/repo", "testdata/fuzz-seeds"}

// seeds returns the YAML files under the seed directories, valid and broken.
func seeds(t interface{ Fatal(...any) }) [][]byte {
	var out [][]byte
	for _, dir := range fuzzSeedDirs {
		err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".yaml") {
				return err
			}
			b, err := os.ReadFile(p)
			out = append(out, b)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// FuzzDecodeEnvironment checks that no input crashes the decoder or the
// validator, and that every failure is bad input with a located message.
func FuzzDecodeEnvironment(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var env Environment
		pos, err := decodeDocument("env.yaml", data, &env, KindEnvironment)
		if err != nil {
			checkFuzzError(t, err)
			return
		}
		p := &problems{file: "env.yaml", pos: pos}
		validateEnvironment(&env, "", p)
		if err := p.err(); err != nil {
			checkFuzzError(t, err)
			return
		}
		env.ApplyDefaults(DefaultSettings())
		if _, err := env.Order(); err != nil {
			t.Fatalf("valid environment cannot be ordered: %v", err)
		}
	})
}

// FuzzDecodeConfig does the same for config.yaml.
func FuzzDecodeConfig(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var cfg Config
		if _, err := decodeDocument("config.yaml", data, &cfg, KindConfig); err != nil {
			checkFuzzError(t, err)
		}
	})
}

func checkFuzzError(t *testing.T, err error) {
	t.Helper()
	if errs.KindOf(err) != errs.KindInput {
		t.Fatalf("error is not bad input: %v", err)
	}
	fes := FieldErrors(err)
	if len(fes) == 0 {
		t.Fatalf("error has no located problems: %v", err)
	}
	for _, fe := range fes {
		if !strings.HasPrefix(fe.Error(), fe.File) || fe.Msg == "" {
			t.Fatalf("problem does not name its file: %q", fe.Error())
		}
	}
}

var update = flag.Bool("update", false, "rewrite golden files")

// TestErrorGolden pins the full text of the errors for a realistic broken
// environment, so that changes to wording are reviewed.
func TestErrorGolden(t *testing.T) {
	data, err := os.ReadFile("testdata/fuzz-seeds/broken-env.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var env Environment
	pos, err := decodeDocument("environments/broken.yaml", data, &env, KindEnvironment)
	if err == nil {
		p := &problems{file: "environments/broken.yaml", pos: pos}
		validateEnvironment(&env, "", p)
		err = p.err()
	}
	if err == nil {
		t.Fatal("broken environment decoded and validated")
	}
	got := err.Error() + "\n"
	golden := "testdata/broken-env.golden"
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}
