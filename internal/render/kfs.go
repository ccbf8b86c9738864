package render

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/envctl/envctl/internal/source"
)

// confinedFS is the file system kustomize builds on. Every path it is asked
// about must resolve, symlinks followed, inside the repository root, so that
// no kustomization (nor a symlink planted in one) can make envctl read a file
// outside the repository. It never writes, except inside the temporary
// directories kustomize clones remote bases into when those are allowed.
//
// Methods that cannot return an error (Exists, IsDir) answer false for a path
// outside the root; the refusal is recorded so that the build's error can
// name the escaping path instead of kustomize's "not found".
type confinedFS struct {
	disk filesys.FileSystem
	root string
	// cloneDirs allows kustomize's own clone directories (kustomize-* under
	// the temporary directory) when remote bases are allowed.
	cloneDirs bool
	tmp       string

	// decrypt, when set, turns the content of every file read into its
	// plain form (SOPS decryption); it returns other files unchanged.
	decrypt func(p string, data []byte) ([]byte, error)

	mu      sync.Mutex
	escaped error
}

func newConfinedFS(root string, allowRemote bool) *confinedFS {
	tmp, err := filepath.EvalSymlinks(os.TempDir())
	if err != nil {
		tmp = os.TempDir()
	}
	return &confinedFS{disk: filesys.MakeFsOnDisk(), root: root, cloneDirs: allowRemote, tmp: tmp}
}

var errReadOnly = errors.New("rendering does not write files")

// check resolves p and returns an error unless it stays inside the root (or
// an allowed clone directory).
func (c *confinedFS) check(p string) error {
	abs, err := filepath.Abs(p)
	if err != nil {
		return err
	}
	if base, ok := c.cloneDir(abs); ok {
		_, err := source.Confine(base, relOrDot(base, abs))
		return err
	}
	rel, err := filepath.Rel(c.root, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		err := &source.EscapeError{Path: filepath.ToSlash(relOrAbs(c.root, abs))}
		c.record(err)
		return err
	}
	if _, err := source.Confine(c.root, filepath.ToSlash(relOrDot(c.root, abs))); err != nil {
		c.record(err)
		return err
	}
	return nil
}

// cloneDir returns the kustomize clone directory that holds abs, if remote
// bases are allowed and it is in one.
func (c *confinedFS) cloneDir(abs string) (string, bool) {
	if !c.cloneDirs {
		return "", false
	}
	rel, err := filepath.Rel(c.tmp, abs)
	if err != nil || strings.HasPrefix(rel, "..") {
		return "", false
	}
	first, _, _ := strings.Cut(rel, string(filepath.Separator))
	if !strings.HasPrefix(first, "kustomize-") {
		return "", false
	}
	return filepath.Join(c.tmp, first), true
}

func (c *confinedFS) record(err error) {
	var ee *source.EscapeError
	if !errors.As(err, &ee) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.escaped == nil {
		c.escaped = err
	}
}

// escape returns the first path refused for leaving the root, if any.
func (c *confinedFS) escape() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.escaped
}

func (c *confinedFS) checkWrite(p string) error {
	abs, err := filepath.Abs(p)
	if err != nil {
		return err
	}
	if _, ok := c.cloneDir(abs); ok {
		return c.check(abs)
	}
	return fmt.Errorf("%s: %w", p, errReadOnly)
}

// Create implements filesys.FileSystem.
func (c *confinedFS) Create(p string) (filesys.File, error) {
	if err := c.checkWrite(p); err != nil {
		return nil, err
	}
	return c.disk.Create(p)
}

// Mkdir implements filesys.FileSystem.
func (c *confinedFS) Mkdir(p string) error {
	if err := c.checkWrite(p); err != nil {
		return err
	}
	return c.disk.Mkdir(p)
}

// MkdirAll implements filesys.FileSystem.
func (c *confinedFS) MkdirAll(p string) error {
	if err := c.checkWrite(p); err != nil {
		return err
	}
	return c.disk.MkdirAll(p)
}

// RemoveAll implements filesys.FileSystem.
func (c *confinedFS) RemoveAll(p string) error {
	if err := c.checkWrite(p); err != nil {
		return err
	}
	return c.disk.RemoveAll(p)
}

// WriteFile implements filesys.FileSystem.
func (c *confinedFS) WriteFile(p string, data []byte) error {
	if err := c.checkWrite(p); err != nil {
		return err
	}
	return c.disk.WriteFile(p, data)
}

// Open implements filesys.FileSystem.
func (c *confinedFS) Open(p string) (filesys.File, error) {
	if err := c.check(p); err != nil {
		return nil, err
	}
	return c.disk.Open(p)
}

// IsDir implements filesys.FileSystem.
func (c *confinedFS) IsDir(p string) bool {
	return c.check(p) == nil && c.disk.IsDir(p)
}

// ReadDir implements filesys.FileSystem.
func (c *confinedFS) ReadDir(p string) ([]string, error) {
	if err := c.check(p); err != nil {
		return nil, err
	}
	return c.disk.ReadDir(p)
}

// CleanedAbs implements filesys.FileSystem.
func (c *confinedFS) CleanedAbs(p string) (filesys.ConfirmedDir, string, error) {
	if err := c.check(p); err != nil {
		return "", "", err
	}
	return c.disk.CleanedAbs(p)
}

// Exists implements filesys.FileSystem.
func (c *confinedFS) Exists(p string) bool {
	return c.check(p) == nil && c.disk.Exists(p)
}

// Glob implements filesys.FileSystem. Matches outside the root are dropped.
func (c *confinedFS) Glob(pattern string) ([]string, error) {
	// The pattern's fixed directory is resolved first, which writes it
	// when the root is a snapshot written on demand.
	if abs, err := filepath.Abs(fixedDir(pattern)); err == nil {
		if rel, err := filepath.Rel(c.root, abs); err == nil && filepath.IsLocal(rel) {
			_, _ = source.Confine(c.root, filepath.ToSlash(rel))
		}
	}
	matches, err := c.disk.Glob(pattern)
	if err != nil {
		return nil, err
	}
	kept := matches[:0]
	for _, m := range matches {
		if c.check(m) == nil {
			kept = append(kept, m)
		}
	}
	return kept, nil
}

// ReadFile implements filesys.FileSystem.
func (c *confinedFS) ReadFile(p string) ([]byte, error) {
	if err := c.check(p); err != nil {
		return nil, err
	}
	data, err := c.disk.ReadFile(p)
	if err != nil {
		return nil, err
	}
	name := p
	if rel, rerr := filepath.Rel(c.root, p); rerr == nil && filepath.IsLocal(rel) {
		name = rel
	}
	if err := checkAliases(name, data); err != nil {
		return nil, err
	}
	if c.decrypt == nil {
		return data, nil
	}
	return c.decrypt(p, data)
}

// Walk implements filesys.FileSystem. Entries that resolve outside the root
// are reported to walkFn as errors rather than read.
func (c *confinedFS) Walk(p string, walkFn filepath.WalkFunc) error {
	if err := c.check(p); err != nil {
		return err
	}
	return c.disk.Walk(p, func(path string, info os.FileInfo, err error) error {
		if err == nil {
			if cerr := c.check(path); cerr != nil {
				return walkFn(path, info, cerr)
			}
		}
		return walkFn(path, info, err)
	})
}

// fixedDir is the directory a glob pattern's leading elements without
// wildcards name.
func fixedDir(pattern string) string {
	i := strings.IndexAny(pattern, "*?[\\")
	if i < 0 {
		return filepath.Dir(pattern)
	}
	return filepath.Dir(pattern[:i])
}

func relOrDot(base, p string) string {
	rel, err := filepath.Rel(base, p)
	if err != nil || rel == "" {
		return "."
	}
	return rel
}

func relOrAbs(base, p string) string {
	rel, err := filepath.Rel(base, p)
	if err != nil {
		return p
	}
	return rel
}
