package cli

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/envctl/envctl/internal/object"
	"github.com/envctl/envctl/internal/plan"
)

// The -update flag rewrites golden files. It may be declared by another test
// file of this package too; whoever comes first registers it.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite the golden files under testdata/")
	}
}

func updateGolden() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if updateGolden() {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got; -update rewrites it):\n%s", path, diff)
	}
}

func samplePlan() *plan.Plan {
	cm := object.Ref{Version: "v1", Kind: "ConfigMap", Namespace: "ml", Name: "model-config"}
	dep := object.Ref{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "ml", Name: "server"}
	sec := object.Ref{Version: "v1", Kind: "Secret", Namespace: "ml", Name: "db"}
	return &plan.Plan{
		Environment: "ci",
		Warnings:    []string{"the apply would prune nothing: refusing to prune"},
		Items: []plan.Item{
			{Ref: cm, Component: "serving", Action: plan.Change, Diff: "--- ConfigMap ml/model-config (live)\n+++ ConfigMap ml/model-config (after apply)\n@@ -1,3 +1,3 @@\n data:\n-  batch: \"8\"\n+  batch: \"16\"\n kind: ConfigMap\n"},
			{Ref: sec, Component: "serving", Action: plan.Change, Diff: "--- Secret ml/db (live)\n+++ Secret ml/db (after apply)\n@@ -1,2 +1,2 @@\n data:\n-  password: (sensitive value)\n+  password: (sensitive value changed)\n"},
			{Ref: dep, Component: "serving", Action: plan.Unchanged},
			{Ref: object.Ref{Group: "ml.dev", Version: "v1", Kind: "Model", Namespace: "ml", Name: "resnet"}, Component: "serving", Action: plan.Create,
				Note: "its kind is defined by CustomResourceDefinition models.ml.dev, which this apply creates or updates; shown as rendered, without a dry-run",
				Diff: "--- /dev/null\n+++ Model.ml.dev ml/resnet (after apply)\n@@ -0,0 +1,2 @@\n+apiVersion: ml.dev/v1\n+kind: Model\n"},
			{Ref: object.Ref{Version: "v1", Kind: "ConfigMap", Namespace: "ml", Name: "old"}, Component: "serving", Action: plan.Prune},
			{Ref: object.Ref{Version: "v1", Kind: "Namespace", Name: "legacy"}, Component: "platform", Action: plan.Orphan, Note: "not deleted: a Namespace"},
			{Ref: object.Ref{Version: "v1", Kind: "Service", Namespace: "ml", Name: "bad"}, Component: "serving", Action: plan.Error, Error: "dry-run Service ml/bad (component serving): Service \"bad\" is invalid: spec.ports: Required value"},
		},
	}
}

func TestPrintPlanText(t *testing.T) {
	for _, tt := range []struct {
		name  string
		tty   bool
		color bool
	}{
		{name: "diff-plain.golden"},
		{name: "diff-color.golden", tty: true, color: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			f := &Factory{Streams: IOStreams{Out: &out, ErrOut: &errOut, OutTTY: tt.tty}, Global: &GlobalOptions{}}
			p := samplePlan()
			p.Revision = "main@sha1:0123456789abcdef0123456789abcdef01234567"
			if err := printPlan(f, p, "text"); err != nil {
				t.Fatal(err)
			}
			golden(t, tt.name, out.Bytes())
			if hasColor := strings.Contains(out.String(), "\x1b["); hasColor != tt.color {
				t.Errorf("colour escapes present = %v, want %v", hasColor, tt.color)
			}
			wantErr := "Warning: the apply would prune nothing: refusing to prune\n" +
				"Environment ci at main@sha1:0123456789abcdef0123456789abcdef01234567: 1 to create, 2 to change, 1 to prune, 1 unchanged, 1 left in the cluster untracked, 1 failed.\n"
			if diff := cmp.Diff(wantErr, errOut.String()); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPrintPlanNoColorFlag(t *testing.T) {
	var out bytes.Buffer
	f := &Factory{Streams: IOStreams{Out: &out, ErrOut: &bytes.Buffer{}, OutTTY: true}, Global: &GlobalOptions{NoColor: true}}
	if err := printPlan(f, samplePlan(), "text"); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "\x1b[") {
		t.Error("--no-color output has colour escapes")
	}
}

func TestDiffFlagErrorsExit2(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{args: []string{"diff", "-o", "yaml"}, want: `unknown output format "yaml"`},
		{args: []string{"diff", "a", "b"}, want: "accepts at most 1 arg"},
		{args: []string{"diff", "--no-such-flag"}, want: "unknown flag"},
		{args: []string{"status", "-o", "wide"}, want: `unknown output format "wide"`},
		{args: []string{"down", "--timeout", "0s"}, want: "--timeout must be positive"},
		{args: []string{"down", "x", "y"}, want: "accepts at most 1 arg"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := Main(tt.args, IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
			if code != ExitInput {
				t.Errorf("exit code %d, want %d; stderr: %s", code, ExitInput, errOut.String())
			}
			if !strings.Contains(errOut.String(), tt.want) {
				t.Errorf("stderr %q does not say %q", errOut.String(), tt.want)
			}
		})
	}
}

func TestDiffMissingRepoExit2(t *testing.T) {
	var out, errOut bytes.Buffer
	code := Main([]string{"diff", "--repo", t.TempDir()}, IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	if code != diffExitError {
		t.Errorf("exit code %d, want %d; stderr: %s", code, diffExitError, errOut.String())
	}
	if !strings.Contains(errOut.String(), "Error:") || out.Len() != 0 {
		t.Errorf("want one error on stderr and nothing on stdout; got stdout %q, stderr %q", out.String(), errOut.String())
	}
}
