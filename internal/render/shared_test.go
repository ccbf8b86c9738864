package render

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// TestSharedRendersUnchangedComponentsOnce: two renders of two copies of
// the fixture repository, side by side with one Shared, each give what
// they give alone; a component whose files are the same in both is built
// (the overlay) or templated (the chart) once, and one whose files differ
// by each render.
func TestSharedRendersUnchangedComponentsOnce(t *testing.T) {
	for _, tt := range []struct {
		name string
		edit func(t *testing.T, dir string)
		// shared are the components the second render took.
		shared []string
	}{
		{"no change", func(*testing.T, string) {}, []string{"app", "demo"}},
		{"the overlay's base", func(t *testing.T, dir string) {
			appendFile(t, filepath.Join(dir, "bases", "app", "app.properties"), "feature.new=true\n")
		}, []string{"demo"}},
		{"a file the overlay does not name, in its directory", func(t *testing.T, dir string) {
			appendFile(t, filepath.Join(dir, "overlays", "dev", "README"), "notes\n")
		}, []string{"demo"}},
		{"a chart template", func(t *testing.T, dir string) {
			appendFile(t, filepath.Join(dir, "charts", "demo", "templates", "configmap.yaml"), "# a comment\n")
		}, []string{"app"}},
		{"a values file", func(t *testing.T, dir string) {
			appendFile(t, filepath.Join(dir, "values", "demo-dev.yaml"), "extra: 1\n")
		}, []string{"app"}},
		{"a file removed", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, "charts", "demo", "templates", "NOTES.txt")); err != nil {
				t.Fatal(err)
			}
		}, []string{"app"}},
		{"an executable bit", func(t *testing.T, dir string) {
			if err := os.Chmod(filepath.Join(dir, "bases", "app", "service.yaml"), 0o755); err != nil {
				t.Fatal(err)
			}
		}, []string{"demo"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dirs := []string{copyFixture(t), copyFixture(t)}
			tt.edit(t, dirs[1])
			shared := NewShared()
			var logs bytes.Buffer
			results := make([]*Result, 2)
			errList := make([]error, 2)
			var wg sync.WaitGroup
			for i, dir := range dirs {
				wg.Go(func() {
					results[i], errList[i] = renderFixture(t, dir, func(o *Options) {
						o.Shared = shared
						o.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
					})
				})
			}
			wg.Wait()
			for i, dir := range dirs {
				if errList[i] != nil {
					t.Fatal(errList[i])
				}
				alone, err := renderFixture(t, dir, nil)
				if err != nil {
					t.Fatal(err)
				}
				if got, want := yamlOf(t, results[i]), yamlOf(t, alone); !bytes.Equal(got, want) {
					t.Errorf("render %d with Shared differs from its render alone:\n%s\nwant:\n%s", i, got, want)
				}
			}
			var took []string
			for _, line := range strings.Split(logs.String(), "\n") {
				if strings.Contains(line, "its output is shared") {
					_, c, _ := strings.Cut(line, "component=")
					took = append(took, strings.Fields(c)[0])
				}
			}
			slices.Sort(took)
			if !slices.Equal(took, tt.shared) {
				t.Errorf("components shared: %v, want %v", took, tt.shared)
			}
		})
	}
}

// TestSharedNeverSharesDecryption: a component that decrypts SOPS files
// (the platform's staging model-serving) renders in each render, so that
// each knows the values to mask; the others are shared.
func TestSharedNeverSharesDecryption(t *testing.T) {
	shared := NewShared()
	var logs bytes.Buffer
	for range 2 {
		opts := platformOptions(t, "staging")
		opts.Shared = shared
		opts.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		res, err := Render(context.Background(), opts)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.sensitive) == 0 {
			t.Fatal("the render knows no decrypted value to mask")
		}
	}
	if strings.Contains(logs.String(), "component=model-serving phase=build") || !strings.Contains(logs.String(), "its output is shared") {
		t.Errorf("want every component but the decrypting model-serving shared:\n%s", logs.String())
	}
}

func appendFile(t *testing.T, p, text string) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
