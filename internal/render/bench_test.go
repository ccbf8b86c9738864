package render

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/source"
)

// platformOptions loads one of the repository's own environments, the ML
// platform under bases/, overlays/ and environments/, ignoring ENVCTL_*
// variables so that a developer's shell does not change what is measured.
func platformOptions(tb testing.TB, env string) Options {
	tb.Helper()
	repo, err := config.Load(config.LoadOptions{
		Dir:       filepath.Join("..", ".."),
		LookupEnv: func(string) (string, bool) { return "", false },
	})
	if err != nil {
		tb.Fatal(err)
	}
	e, err := repo.Environment(env)
	if err != nil {
		tb.Fatal(err)
	}
	snap, err := source.Local(repo.Root)
	if err != nil {
		tb.Fatal(err)
	}
	opts := Options{
		Source:        snap,
		Environment:   e,
		Settings:      repo.Config.Spec.Render,
		ChartCacheDir: filepath.Join(tb.TempDir(), "charts"),
	}
	if env == "staging" {
		// Staging's model-serving Secret is a SOPS file encrypted for the
		// test key.
		opts.DecryptionKeyFile = filepath.Join("testdata", "sops", "staging.agekey")
	}
	return opts
}

// BenchmarkRenderLocal renders the platform's local environment, every
// component, as `envctl render local` and `envctl up` do.
func BenchmarkRenderLocal(b *testing.B) {
	opts := platformOptions(b, "local")
	b.ReportAllocs()
	var objects int
	for b.Loop() {
		res, err := Render(context.Background(), opts)
		if err != nil {
			b.Fatal(err)
		}
		objects = len(res.Items())
	}
	b.ReportMetric(float64(objects), "objects")
}

// TestRenderPlatformConcurrency renders the platform's environments with one
// component at a time and with all at once: the bytes must not differ.
func TestRenderPlatformConcurrency(t *testing.T) {
	for _, env := range []string{"local", "ci", "staging"} {
		t.Run(env, func(t *testing.T) {
			opts := platformOptions(t, env)
			opts.Settings.Concurrency = 1
			one, err := Render(context.Background(), opts)
			if err != nil {
				t.Fatal(err)
			}
			opts.Settings.Concurrency = 16
			many, err := Render(context.Background(), opts)
			if err != nil {
				t.Fatal(err)
			}
			if a, b := yamlOf(t, one), yamlOf(t, many); string(a) != string(b) {
				t.Error("concurrency changes the render")
			}
		})
	}
}
