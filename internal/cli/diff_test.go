package cli

import (
	"bytes"
	"strings"
	"testing"
)

func TestColorOut(t *testing.T) {
	for _, tt := range []struct {
		tty, noColor, want bool
	}{
		{tty: true, want: true},
		{tty: true, noColor: true},
		{},
	} {
		f := &Factory{Streams: IOStreams{OutTTY: tt.tty}, Global: &GlobalOptions{NoColor: tt.noColor}}
		if got := colorOut(f); got != tt.want {
			t.Errorf("colorOut with a terminal %v and --no-color %v = %v, want %v", tt.tty, tt.noColor, got, tt.want)
		}
	}
}

func TestDiffFlagErrorsExit2(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{args: []string{"diff", "-o", "xml"}, want: `unknown output format "xml"`},
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
