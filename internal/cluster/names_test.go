package cluster

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/envctl/envctl/internal/errs"
)

func TestValidateName(t *testing.T) {
	for _, tc := range []struct {
		name string
		want string // substring of the error, "" for valid
	}{
		{"ml", ""},
		{"envctl-local", ""},
		{"a1-b2", ""},
		{strings.Repeat("a", MaxNameLength), ""},
		{"", "empty"},
		{strings.Repeat("a", MaxNameLength+1), "41 characters, at most 40"},
		{"ML", `invalid cluster name "ML": use lowercase`},
		{"my_cluster", "use lowercase letters, digits and '-'"},
		{"-lead", "starting and ending with a letter or digit"},
		{"trail-", "starting and ending"},
		{"dots.are.out", "lowercase letters, digits and '-'"},
		{"../etc", "invalid cluster name"},
	} {
		err := ValidateName(tc.name)
		if tc.want == "" {
			if err != nil {
				t.Errorf("ValidateName(%q) = %v, want nil", tc.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ValidateName(%q) = %v, want error containing %q", tc.name, err, tc.want)
		}
		if errs.KindOf(err) != errs.KindInput {
			t.Errorf("ValidateName(%q): kind %v, want input", tc.name, errs.KindOf(err))
		}
	}
}

func TestStateDir(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	for _, tc := range []struct{ xdg, want string }{
		{"", filepath.Join(home, ".local", "state", "envctl")},
		{"/var/lib/me", "/var/lib/me/envctl"},
		{"relative/ignored", filepath.Join(home, ".local", "state", "envctl")},
	} {
		t.Setenv("XDG_STATE_HOME", tc.xdg)
		got, err := StateDir()
		if err != nil || got != tc.want {
			t.Errorf("XDG_STATE_HOME=%q: StateDir() = %q, %v; want %q", tc.xdg, got, err, tc.want)
		}
	}
	got, err := ClusterDir("/s", "kind", "ml")
	if err != nil || got != "/s/clusters/kind/ml" {
		t.Errorf("ClusterDir = %q, %v", got, err)
	}
}
