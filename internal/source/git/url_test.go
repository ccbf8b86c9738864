package git

import (
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		raw     string
		want    URL
		printed string
		err     string
	}{
		{raw: "https://github.com/org/platform.git", want: URL{Scheme: "https", Host: "github.com", Path: "/org/platform.git"}, printed: "https://github.com/org/platform.git"},
		{raw: "https://ci@git.example.com:8443/platform", want: URL{Scheme: "https", User: "ci", Host: "git.example.com", Port: 8443, Path: "/platform"}, printed: "https://git.example.com:8443/platform"},
		{raw: "http://127.0.0.1:3000/a.git", want: URL{Scheme: "http", Host: "127.0.0.1", Port: 3000, Path: "/a.git"}, printed: "http://127.0.0.1:3000/a.git"},
		{raw: "ssh://git@github.com/org/platform.git", want: URL{Scheme: "ssh", User: "git", Host: "github.com", Path: "/org/platform.git"}, printed: "ssh://github.com/org/platform.git"},
		{raw: "ssh://git@[::1]:2222/r.git", want: URL{Scheme: "ssh", User: "git", Host: "::1", Port: 2222, Path: "/r.git"}, printed: "ssh://[::1]:2222/r.git"},
		{raw: "git@github.com:org/platform.git", want: URL{Scheme: "ssh", User: "git", Host: "github.com", Path: "org/platform.git", scp: true}, printed: "github.com:org/platform.git"},
		{raw: "gitlab.example.com:platform", want: URL{Scheme: "ssh", Host: "gitlab.example.com", Path: "platform", scp: true}, printed: "gitlab.example.com:platform"},
		{raw: "file:///srv/git/platform.git", want: URL{Scheme: "file", Path: "/srv/git/platform.git"}, printed: "file:///srv/git/platform.git"},
		{raw: "https://user:hunter2@github.com/org/r.git", err: "carries a password"},
		{raw: "git:hunter2@github.com:org/r.git", err: "carries a password"},
		{raw: "user:hunter2@host/path", err: "is not one of"},
		{raw: "git://github.com/org/r.git", err: "neither authenticated nor encrypted"},
		{raw: "ftp://host/r.git", err: `unsupported scheme "ftp"`},
		{raw: "https://github.com/org/r.git?token=hunter2", err: "query or fragment"},
		{raw: "https://github.com/", err: "names no repository"},
		{raw: "https:///r.git", err: "has no host"},
		{raw: "file://host/srv/r.git", err: "names a host"},
		{raw: "-oProxyCommand=evil:x", err: "may not start with '-'"},
		{raw: "host:-upload-pack=evil", err: "may not start with '-'"},
		{raw: "https://github.com/org/r .git", err: "space or control character"},
		{raw: "/srv/git/r.git", err: "is not one of"},
		{raw: "", err: "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			u, err := ParseURL(tt.raw)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParseURL = %+v, %v; want an error saying %q", u, err, tt.err)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("the error shows the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if *u != tt.want {
				t.Errorf("ParseURL = %+v, want %+v", *u, tt.want)
			}
			if u.String() != tt.printed {
				t.Errorf("String = %q, want %q", u.String(), tt.printed)
			}
		})
	}
}

func TestResolveRelative(t *testing.T) {
	tests := []struct{ base, ref, want string }{
		{"https://h/org/platform.git", "../charts.git", "https://h/org/charts.git"},
		{"https://h/org/platform.git", "./sub.git", "https://h/org/platform.git/sub.git"},
		{"git@h:org/platform.git", "../charts.git", "h:org/charts.git"},
		{"https://h/org/platform.git", "https://other/x.git", "https://other/x.git"},
	}
	for _, tt := range tests {
		b, err := ParseURL(tt.base)
		if err != nil {
			t.Fatal(err)
		}
		got, err := b.resolveRelative(tt.ref)
		if err != nil || got.String() != tt.want {
			t.Errorf("%s + %s = %v, %v; want %s", tt.base, tt.ref, got, err, tt.want)
		}
	}
	b, _ := ParseURL("https://h/platform.git")
	if _, err := b.resolveRelative("../../../x.git"); err == nil {
		t.Error("a relative URL above the host resolved")
	}
}

func TestCheckRefName(t *testing.T) {
	for _, ok := range []string{"main", "release/1.x", "feature/a-b_c", "v1.2.3", "a.b"} {
		if err := CheckRefName(ok); err != nil {
			t.Errorf("CheckRefName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "@", "-x", "/a", "a/", "a.", "a..b", "a@{1}", "a//b", "a b", "a~1", "a^", "a:b", "a?", "a*", "a[", "a\\b", ".hidden", "a/.b", "x.lock", "a\x01"} {
		if err := CheckRefName(bad); err == nil {
			t.Errorf("CheckRefName(%q) accepted it", bad)
		}
	}
}
