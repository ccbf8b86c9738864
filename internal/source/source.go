// Package source turns where the declared state lives (a local directory,
// or a Git repository through internal/source/git) into a Snapshot: a root
// directory that every path in the configuration is confined to, and the
// revision it was taken at.
package source

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"

	"github.com/envctl/envctl/internal/errs"
)

// Source yields the declared state. Every command takes its state from
// one; the continuous loop calls Snapshot again whenever it wants to know
// whether the state moved, so an implementation makes an unchanged check
// cheap (a Git source lists the remote's refs and fetches nothing).
type Source interface {
	// Snapshot returns the state at the source's current revision. Two
	// calls that find the same revision may return the same directory.
	Snapshot(ctx context.Context) (*Snapshot, error)
	// String names the source for messages and logs; it never holds a
	// credential.
	String() string
}

// Dir is the Source of a local directory.
type Dir struct {
	// Path is the directory: the repository root, or for a Git work tree
	// the folder inside it that holds config.yaml.
	Path string
}

// Snapshot implements Source.
func (d Dir) Snapshot(_ context.Context) (*Snapshot, error) { return Local(d.Path) }

func (d Dir) String() string { return d.Path }

// Snapshot is the declared state at one revision.
type Snapshot struct {
	// Root is the absolute, symlink-free path of the folder that holds
	// config.yaml; every path in the configuration is confined to it.
	Root string
	// Revision identifies the content, as Flux writes it:
	// "main@sha1:<hex>" for a branch, "v1.2.3@sha1:<hex>" for a tag,
	// "sha1:<hex>" for a commit or a clean local work tree,
	// "sha1:<hex>-dirty" for a work tree with changes to tracked files, and
	// "sha256:<hex>" for a local directory outside Git (a hash of its
	// content). Two snapshots with the same revision hold the same files.
	Revision string
}

// EscapeError reports a path that leaves the repository root.
type EscapeError struct {
	// Path is the path as written in the configuration.
	Path string
	// Target is where it leads, when a symlink took it out.
	Target string
}

func (e *EscapeError) Error() string {
	if e.Target != "" {
		return fmt.Sprintf("path %q escapes the repository root through a symlink to %s", e.Path, e.Target)
	}
	return fmt.Sprintf("path %q escapes the repository root", e.Path)
}

// Resolve returns the absolute path of rel, a slash-separated path relative
// to the root, after checking that neither the path nor any symlink on the
// way leads outside the root. A path that does not exist is resolved as far
// as it exists; the caller reports the missing file.
func (s *Snapshot) Resolve(rel string) (string, error) {
	return Confine(s.Root, rel)
}

// Confine is Resolve for an arbitrary root, which must be absolute and free
// of symlinks.
func Confine(root, rel string) (string, error) {
	if rel == "" {
		return "", errs.Inputf("empty path")
	}
	if filepath.IsAbs(rel) || strings.HasPrefix(rel, "/") {
		return "", errs.Input(&EscapeError{Path: rel})
	}
	joined := filepath.Join(root, filepath.FromSlash(rel))
	if !within(root, joined) {
		return "", errs.Input(&EscapeError{Path: rel})
	}
	if reach, ok := onDemand.Load(root); ok {
		if err := reach.(func(string) error)(filepath.ToSlash(rel)); err != nil {
			return "", fmt.Errorf("path %q: %w", rel, err)
		}
	}
	real, err := evalExisting(joined)
	if err != nil {
		return "", errs.Input(fmt.Errorf("path %q: %w", rel, err))
	}
	if !within(root, real) {
		return "", errs.Input(&EscapeError{Path: rel, Target: real})
	}
	return real, nil
}

// onDemand maps the root of each snapshot whose files are written when
// first reached to the function that writes them.
var onDemand sync.Map

// OnDemand registers root as a snapshot written as it is read: before
// Confine resolves a path under root it calls reach with the path, which
// writes what the path reaches (its subtree when it is a directory, and
// what symlinks on the way lead to). Everything that reads a snapshot goes
// through Confine (Resolve), apart from the files directly in its root,
// which reach must have written beforehand. The returned func ends it.
func OnDemand(root string, reach func(rel string) error) (end func()) {
	onDemand.Store(root, reach)
	return func() { onDemand.Delete(root) }
}

// CheckTree walks dir (already confined) and reports the first symlink in it
// that leads outside root.
func CheckTree(root, dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink == 0 {
			return nil
		}
		target, err := filepath.EvalSymlinks(p)
		if err != nil {
			return errs.Input(fmt.Errorf("path %q: %w", relTo(root, p), err))
		}
		if !within(root, target) {
			return errs.Input(&EscapeError{Path: relTo(root, p), Target: target})
		}
		return nil
	})
}

// evalExisting resolves symlinks in the longest existing prefix of p and
// appends the rest unchanged.
func evalExisting(p string) (string, error) {
	rest := ""
	cur := p
	for {
		real, err := filepath.EvalSymlinks(cur)
		if err == nil {
			return filepath.Join(real, rest), nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return p, nil
		}
		rest = filepath.Join(filepath.Base(cur), rest)
		cur = parent
	}
}

func within(root, p string) bool {
	if p == root {
		return true
	}
	return strings.HasPrefix(p, root+string(filepath.Separator))
}

func relTo(root, p string) string {
	r, err := filepath.Rel(root, p)
	if err != nil {
		return p
	}
	return filepath.ToSlash(r)
}
