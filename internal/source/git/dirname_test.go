package git

import "testing"

// TestDirName: a Git source names the repository as a checkout's folder
// would be named, so that an environment applied from a clone and then
// from its remote is recognised as the same repository.
func TestDirName(t *testing.T) {
	for _, tc := range []struct {
		url, path, want string
	}{
		{url: "https://github.com/acme/platform.git", want: "platform"},
		{url: "https://github.com/acme/platform", want: "platform"},
		{url: "https://git.example.com/acme/platform.git/", want: "platform"},
		{url: "git@github.com:acme/ml-platform.git", want: "ml-platform"},
		{url: "ssh://git@git.example.com:2222/acme/platform.git", want: "platform"},
		{url: "https://github.com/acme/platform.git", path: "envs/prod", want: "prod"},
	} {
		u, err := ParseURL(tc.url)
		if err != nil {
			t.Fatalf("%s: %v", tc.url, err)
		}
		s := &Source{url: u, path: tc.path}
		if got := s.DirName(); got != tc.want {
			t.Errorf("DirName of %s (path %q) = %q, want %q", tc.url, tc.path, got, tc.want)
		}
	}
}
