package daemon

import (
	"testing"

	"github.com/envctl/envctl/internal/daemon/manifests"
)

func TestFollowing(t *testing.T) {
	for _, tt := range []struct {
		git  manifests.Git
		want string
	}{
		{manifests.Git{URL: "https://h/r.git"}, "https://h/r.git the default branch"},
		{manifests.Git{URL: "https://h/r.git", Branch: "main", Path: "platform"}, "https://h/r.git branch main (path platform)"},
		{manifests.Git{URL: "git@h:r.git", SemVer: ">=1.2"}, "git@h:r.git semver >=1.2"},
	} {
		if got := Following(tt.git); got != tt.want {
			t.Errorf("Following(%+v) = %q, want %q", tt.git, got, tt.want)
		}
	}
}
