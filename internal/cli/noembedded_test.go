package cli

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestNoEmbeddedBuild builds envctl as the daemon's image holds it, with
// -tags noembedded (and the Makefile's tags), and runs it: it has no Kubernetes control plane in it,
// renders what the full build renders, offers daemon install, and says
// plainly that it has no embedded provider.
func TestNoEmbeddedBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds envctl with go build")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build with")
	}
	root, err := filepath.Abs(platformRepo)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "envctl-noembedded")
	// The tags of make image-binary; cgo stays as the test run has it, so
	// the build reuses the test run's compiled packages.
	tags := strings.Join(append(makeTags(t), "noembedded"), ",")
	build := exec.CommandContext(t.Context(), goBin, "build", "-tags", tags, "-ldflags", "-s -w", "-o", bin, "./cmd/envctl")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build -tags %s: %v\n%s", tags, err, out)
	}

	// Neither the control plane nor etcd's server is linked in.
	mods, err := exec.CommandContext(t.Context(), goBin, "version", "-m", bin).Output()
	if err != nil {
		t.Fatalf("go version -m: %v", err)
	}
	for _, m := range []string{"k8s.io/kubernetes", "go.etcd.io/etcd/server/v3"} {
		if bytes.Contains(mods, []byte("\tdep\t"+m+"\t")) {
			t.Errorf("the noembedded build links %s", m)
		}
	}

	run := func(args ...string) (int, string, string) {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), bin, args...)
		cmd.Dir = t.TempDir()
		cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+t.TempDir(), "XDG_STATE_HOME="+t.TempDir(), "KUBECONFIG="+filepath.Join(t.TempDir(), "config"),
			// No container runtime answers: auto must say why it
			// cannot fall back to embedded.
			"PATH=/nonexistent")
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("envctl %s: %v", strings.Join(args, " "), err)
		}
		return code, out.String(), errOut.String()
	}

	if code, out, errOut := run("version"); code != 0 || !strings.HasPrefix(out, "envctl ") {
		t.Errorf("version: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut := run("-C", root, "render", "ci")
	if code != 0 {
		t.Fatalf("render ci: exit %d\n%s", code, errOut)
	}
	checkRenderGolden(t, "ci.golden.yaml", out)
	if code, out, errOut := run("daemon", "install", "--help"); code != 0 || !strings.Contains(out, "envctl daemon install staging --git") {
		t.Errorf("daemon install --help: exit %d\n%s%s", code, out, errOut)
	}
	// The image runs the daemon itself, and offers install under it.
	if code, out, errOut := run("daemon", "--help"); code != 0 || !strings.Contains(out, "--webhook-addr") || !regexp.MustCompile(`(?m)^\s+install\s`).MatchString(out) {
		t.Errorf("daemon --help: exit %d\n%s%s", code, out, errOut)
	}
	const plain = "this build of envctl has no embedded control plane"
	for _, args := range [][]string{
		{"cluster", "create", "x", "--provider", "embedded"},
		{"cluster", "serve", "x"},
		{"cluster", "create", "x"},
	} {
		code, _, errOut := run(args...)
		if code != ExitInput || !strings.Contains(errOut, plain) {
			t.Errorf("envctl %s: exit %d, want %d saying %q:\n%s", strings.Join(args, " "), code, ExitInput, plain, errOut)
		}
	}
}
