package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
)

// SourceKinds lists which of kustomize, helm and manifests the component
// sets; a valid component sets exactly one.
func (c Component) SourceKinds() []string {
	var kinds []string
	if c.Kustomize != "" {
		kinds = append(kinds, "kustomize")
	}
	if c.Helm != nil {
		kinds = append(kinds, "helm")
	}
	if c.Manifests != nil {
		kinds = append(kinds, "manifests")
	}
	return kinds
}

func joinAnd(items []string) string {
	if len(items) <= 1 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}

// validateManifests checks a plain manifest directory and its globs.
func validateManifests(p *problems, root, at, label string, m *Manifests) {
	for i, g := range m.Include {
		if err := CheckGlob(g); err != nil {
			p.addf(fmt.Sprintf("%s.include[%d]", at, i), "%s: %v", label, err)
		}
	}
	for i, g := range m.Exclude {
		if err := CheckGlob(g); err != nil {
			p.addf(fmt.Sprintf("%s.exclude[%d]", at, i), "%s: %v", label, err)
		}
	}
	if m.Path == "" {
		p.addf(at+".path", "%s: manifests.path is required", label)
		return
	}
	if root == "" {
		return
	}
	abs, ok := confined(p, root, at+".path", label, m.Path)
	if !ok {
		return
	}
	st, err := os.Stat(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		p.addf(at+".path", "%s: manifests directory %q does not exist", label, m.Path)
	case err != nil:
		p.addf(at+".path", "%s: manifests directory %q: %v", label, m.Path, err)
	case !st.IsDir():
		p.addf(at+".path", "%s: manifests path %q is not a directory", label, m.Path)
	}
}

// CheckGlob checks an include or exclude pattern: a slash-separated path
// pattern relative to the directory, each segment as path.Match reads it,
// and "**" as a whole segment for any number of directories.
func CheckGlob(g string) error {
	if g == "" {
		return errors.New("empty pattern")
	}
	if strings.HasPrefix(g, "/") || g == ".." || strings.HasPrefix(g, "../") || strings.Contains(g, "/../") {
		return fmt.Errorf("pattern %q must be relative to the directory and stay inside it", g)
	}
	for _, seg := range strings.Split(g, "/") {
		if seg == "**" {
			continue
		}
		if _, err := path.Match(seg, ""); err != nil {
			return fmt.Errorf("pattern %q: %v", g, err)
		}
	}
	return nil
}

// MatchGlob reports whether the slash-separated relative path rel matches
// the pattern g (see CheckGlob). A pattern without a slash also matches a
// file's base name at any depth, as .gitignore patterns do.
func MatchGlob(g, rel string) bool {
	if !strings.Contains(g, "/") {
		ok, _ := path.Match(g, path.Base(rel))
		return ok
	}
	return matchSegments(strings.Split(g, "/"), strings.Split(rel, "/"))
}

func matchSegments(pat, parts []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			for i := 0; i <= len(parts); i++ {
				if matchSegments(pat[1:], parts[i:]) {
					return true
				}
			}
			return false
		}
		if len(parts) == 0 {
			return false
		}
		if ok, _ := path.Match(pat[0], parts[0]); !ok {
			return false
		}
		pat, parts = pat[1:], parts[1:]
	}
	return len(parts) == 0
}

// envNameRE is what a portable environment variable name looks like.
var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// validateRepoAuth checks where the credentials of a chart source come from.
func validateRepoAuth(p *problems, root, at, label string, a *RepoAuth) {
	if a.Username != "" && a.UsernameEnv != "" {
		p.addf(at+".username", "%s: set username or usernameEnv, not both", label)
	}
	if a.PasswordEnv != "" && a.PasswordFile != "" {
		p.addf(at+".passwordEnv", "%s: set passwordEnv or passwordFile, not both", label)
	}
	hasUser := a.Username != "" || a.UsernameEnv != ""
	hasPassword := a.PasswordEnv != "" || a.PasswordFile != ""
	if hasUser != hasPassword {
		p.addf(at, "%s: basic auth needs both a user name (username or usernameEnv) and a password (passwordEnv or passwordFile)", label)
	}
	for field, name := range map[string]string{"usernameEnv": a.UsernameEnv, "passwordEnv": a.PasswordEnv} {
		if name != "" && !envNameRE.MatchString(name) {
			p.addf(at+"."+field, "%s: %q is not an environment variable name", label, name)
		}
	}
	if f := a.PasswordFile; f != "" && !filepath.IsAbs(f) && !strings.HasPrefix(f, "~/") {
		p.addf(at+".passwordFile", "%s: passwordFile %q must be an absolute or ~/ path outside the repository: a password is never committed", label, f)
	}
	if f := a.CAFile; f != "" && root != "" && !filepath.IsAbs(f) && !strings.HasPrefix(f, "~/") {
		if abs, ok := confined(p, root, at+".caFile", label, f); ok {
			if _, err := os.Stat(abs); err != nil {
				p.addf(at+".caFile", "%s: caFile %q does not exist in the repository", label, f)
			}
		}
	}
}
