package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// makeTags returns the build tags every make target compiles with (the
// Makefile's TAGS), so that tests that build envctl build it as make does.
func makeTags(t *testing.T) []string {
	t.Helper()
	mk, err := os.ReadFile(filepath.Join(platformRepo, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^TAGS\s*:=\s*(.*)$`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("the Makefile sets no TAGS")
	}
	return strings.Fields(strings.ReplaceAll(string(m[1]), ",", " "))
}

// TestBuildLinksNoPlugin guards the size of the release binary: with the
// Makefile's tags, nothing in envctl links package plugin, whose presence in
// a cgo binary makes the linker export every symbol and keep every method
// (47 MB of 198 MB when kustomize's Go plugin loader was in).
func TestBuildLinksNoPlugin(t *testing.T) {
	if testing.Short() {
		t.Skip("lists envctl's dependencies with go list")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to list with")
	}
	for _, tags := range [][]string{makeTags(t), append(makeTags(t), "noembedded")} {
		cmd := exec.CommandContext(t.Context(), goBin, "list", "-deps", "-tags", strings.Join(tags, ","), "./cmd/envctl")
		cmd.Dir = platformRepo
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -deps -tags %s: %v", strings.Join(tags, ","), err)
		}
		if slices.Contains(strings.Fields(string(out)), "plugin") {
			why := exec.CommandContext(t.Context(), goBin, "list", "-deps", "-tags", strings.Join(tags, ","), "-f", `{{.ImportPath}}: {{join .Imports " "}}`, "./cmd/envctl")
			why.Dir = platformRepo
			importers, _ := why.Output()
			var by []string
			for _, l := range strings.Split(string(importers), "\n") {
				if slices.Contains(strings.Fields(l), "plugin") {
					by = append(by, strings.SplitN(l, ":", 2)[0])
				}
			}
			t.Errorf("with -tags %s envctl links package plugin, imported by %s", strings.Join(tags, ","), strings.Join(by, ", "))
		}
	}
}
