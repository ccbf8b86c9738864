package config

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/envctl/envctl/internal/errs"
)

func TestFlagsFromEnv(t *testing.T) {
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	branch := fs.String("branch", "", "")
	tag := fs.String("tag", "", "")
	timeout := fs.Duration("git-timeout", 0, "")
	files := fs.Int("git-max-files", 7, "")
	if err := fs.Parse([]string{"--tag", "v1"}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"ENVCTL_BRANCH": " main ", "ENVCTL_TAG": "v2", "ENVCTL_GIT_TIMEOUT": "2m", "ENVCTL_GIT_MAX_FILES": ""}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	if err := FlagsFromEnv(fs, []string{"branch", "tag", "git-timeout", "git-max-files", "no-such-flag"}, lookup); err != nil {
		t.Fatal(err)
	}
	// The command line wins; an empty variable is unset.
	if *branch != "main" || *tag != "v1" || timeout.String() != "2m0s" || *files != 7 {
		t.Errorf("branch %q, tag %q, timeout %v, files %d; want main, v1, 2m, 7", *branch, *tag, *timeout, *files)
	}

	env = map[string]string{"ENVCTL_GIT_TIMEOUT": "soon"}
	err := FlagsFromEnv(fs, []string{"git-timeout"}, lookup)
	if errs.KindOf(err) != errs.KindInput || !strings.Contains(err.Error(), "environment variable ENVCTL_GIT_TIMEOUT") {
		t.Errorf("a bad value: %v; want bad input naming the variable", err)
	}
	if got := FlagEnv("git-max-file-size"); got != "ENVCTL_GIT_MAX_FILE_SIZE" {
		t.Errorf("FlagEnv = %q", got)
	}
}
