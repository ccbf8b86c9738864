package render

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/errs"
)

// manifestExts are the file extensions a manifest directory is read for.
var manifestExts = []string{".yaml", ".yml", ".json"}

// kustomizationFiles are the names kustomize looks for; a manifest
// directory holding one is almost certainly meant as a kustomize component.
var kustomizationFiles = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

// buildManifests reads every manifest file of a plain directory, as Argo CD's
// directory applications do: *.yaml, *.yml and *.json at any depth, filtered
// by the include and exclude globs, in lexical path order, each file a
// stream of documents whose List kinds are unwrapped. Symlinked files are
// read when they stay in the repository; symlinked directories are not
// descended into.
func (r *renderer) buildManifests(ctx context.Context, c config.Component) ([]*unstructured.Unstructured, error) {
	m := c.Manifests
	abs, err := r.src.Resolve(m.Path)
	if err != nil {
		return nil, fmt.Errorf("manifests %s: %w", m.Path, err)
	}
	if st, err := os.Stat(abs); err != nil || !st.IsDir() {
		return nil, errs.Inputf("manifests directory %q does not exist", m.Path)
	}
	files, err := manifestFiles(abs, m)
	if err != nil {
		return nil, fmt.Errorf("manifests %s: %w", m.Path, err)
	}
	var objs []*unstructured.Unstructured
	for _, rel := range files {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		name := path.Join(m.Path, rel)
		p, err := r.src.Resolve(name)
		if err != nil {
			return nil, fmt.Errorf("manifests %s: %w", m.Path, err)
		}
		data, err := r.readFile(c, p, name)
		if err != nil {
			return nil, err
		}
		got, err := decodeManifests(data, name)
		if err != nil {
			return nil, err
		}
		objs = append(objs, got...)
	}
	return objs, nil
}

// manifestFiles lists the manifest files under dir, relative to it with
// slashes, sorted.
func manifestFiles(dir string, m *config.Manifests) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return errs.Input(err)
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if p != dir && strings.HasPrefix(d.Name(), ".") {
				return fs.SkipDir // .git and friends
			}
			return nil
		}
		if slices.Contains(kustomizationFiles, d.Name()) && !excluded(m, rel) {
			return errs.Inputf("%s is a kustomization: point a kustomize component at its directory, or exclude it", rel)
		}
		if !slices.Contains(manifestExts, strings.ToLower(path.Ext(rel))) || !selected(m, rel) {
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			target, err := os.Stat(p)
			if err != nil {
				return errs.Inputf("%s: %v", rel, err)
			}
			if target.IsDir() {
				return nil
			}
		} else if !d.Type().IsRegular() {
			return nil
		}
		files = append(files, rel)
		return nil
	})
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return nil, errs.Inputf("%v", err)
		}
		return nil, err
	}
	slices.Sort(files)
	return files, nil
}

// selected applies the include and exclude globs to a relative path.
func selected(m *config.Manifests, rel string) bool {
	if len(m.Include) > 0 && !slices.ContainsFunc(m.Include, func(g string) bool { return config.MatchGlob(g, rel) }) {
		return false
	}
	return !excluded(m, rel)
}

func excluded(m *config.Manifests, rel string) bool {
	return slices.ContainsFunc(m.Exclude, func(g string) bool { return config.MatchGlob(g, rel) })
}

// readFile reads a repository file that a component's objects come from,
// abs being its path as Snapshot.Resolve returned it, decrypting it in
// memory when the component decrypts and the file is SOPS-encrypted. name is
// the repository path, for messages.
func (r *renderer) readFile(c config.Component, abs, name string) ([]byte, error) {
	data, err := os.ReadFile(abs)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errs.Inputf("%s does not exist", name)
	}
	if err != nil {
		return nil, errs.Inputf("%s: %v", name, err)
	}
	if !c.Decrypts() {
		return data, nil
	}
	return r.decrypt(c.Name, data, name)
}

// decrypt returns the plain content of a component's file when it is
// SOPS-encrypted, and remembers the decrypted values so that the output can
// mask the Secrets holding them; other files come back as they are.
func (r *renderer) decrypt(component string, data []byte, name string) ([]byte, error) {
	plain, secrets, ok, err := r.dec.decrypt(data, name)
	if err != nil || !ok {
		return data, err
	}
	r.log.Debug("decrypted a SOPS file in memory", "component", component, "file", name)
	r.secretsMu.Lock()
	defer r.secretsMu.Unlock()
	if r.secrets == nil {
		r.secrets = map[string][]string{}
		r.sopsFiles = map[string][]string{}
	}
	r.secrets[component] = append(r.secrets[component], secrets...)
	r.sopsFiles[component] = append(r.sopsFiles[component], name)
	return plain, nil
}
