package config

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"strings"

	"github.com/envctl/envctl/internal/credential"
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
	st, ok, err := stat(p, root, at+".path", label, m.Path)
	if !ok {
		return
	}
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

// operatorCredential says what a repository does instead of naming the
// operator's secrets, for the messages that refuse the old fields.
const operatorCredential = "name a credential instead (repoAuth: {credential: NAME}); the operator binds it to its host with " +
	"--helm-credential NAME=HOST and the variables " + credential.EnvPrefix + "<NAME>_USERNAME and _PASSWORD, or with --helm-credentials-file"

// validateRepoAuth checks how a release authenticates to its chart's
// repository or registry: by a credential the operator binds, never by a
// variable, a file or a user name the repository picks.
func validateRepoAuth(p *problems, root, at, label string, h *HelmRelease) {
	a := h.RepoAuth
	for _, f := range []struct{ field, value, what string }{
		{"username", a.Username, "the user name comes with the operator's credential"},
		{"usernameEnv", a.UsernameEnv, "a repository may not choose the operator's environment variables, nor where their values are sent"},
		{"passwordEnv", a.PasswordEnv, "a repository may not choose the operator's environment variables, nor where their values are sent"},
		{"passwordFile", a.PasswordFile, "a repository may not choose the operator's files, nor where their contents are sent"},
	} {
		if f.value != "" {
			p.addf(at+"."+f.field, "%s: %s is refused: %s; %s", label, f.field, f.what, operatorCredential)
		}
	}
	if a.Credential != "" {
		if err := credential.CheckName(a.Credential); err != nil {
			p.addf(at+".credential", "%s: %v", label, err)
		}
		if strings.HasPrefix(h.Repo, "http://") {
			p.addf(at+".credential", "%s: helm.repo %q is plain http, and a credential is only ever sent over https", label, h.Repo)
		}
		if a.CAFile != "" {
			p.addf(at+".caFile", "%s: caFile is not used with a credential: the CA trusted with credential %q is the operator's, given with its binding (%s or ca in --helm-credentials-file)",
				label, a.Credential, credential.EnvName(a.Credential, credential.PartCAFile))
		}
	}
	if f := a.CAFile; f != "" {
		if filepath.IsAbs(f) || strings.HasPrefix(f, "~") {
			p.addf(at+".caFile", "%s: caFile %q is outside the repository: a repository may not choose the operator's files; commit the CA and give its path in the repository", label, f)
		} else if root != "" {
			if _, ok, err := stat(p, root, at+".caFile", label, f); ok && err != nil {
				p.addf(at+".caFile", "%s: caFile %q does not exist in the repository", label, f)
			}
		}
	}
}
