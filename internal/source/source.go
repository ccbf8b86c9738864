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
	"os"
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
	return confine(root, rel, true)
}

// confine is Confine; reach says whether a snapshot written on demand
// writes what rel reaches first.
func confine(root, rel string, reach bool) (string, error) {
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
	if l, ok := onDemand.Load(root); ok && reach {
		if err := l.(Lazy).Reach(filepath.ToSlash(rel)); err != nil {
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
// first reached to its Lazy.
var onDemand sync.Map

// Lazy is a snapshot whose files are written as they are read.
type Lazy interface {
	// Reach writes what rel reaches: its subtree when it is a directory,
	// and what symlinks on the way lead to.
	Reach(rel string) error
	// Stat describes what rel reaches, symlinks followed, from the
	// snapshot's index, writing nothing; fs.ErrNotExist when it holds none.
	Stat(rel string) (fs.FileInfo, error)
	// TreeHash is TreeHash of rel, from the index, writing nothing.
	TreeHash(rel string) (string, bool)
}

// OnDemand registers root as a snapshot written as it is read: before
// Confine resolves a path under root, l writes what the path reaches.
// Everything that reads a snapshot goes through Confine (Resolve), apart
// from the files directly in its root, which l must have written
// beforehand; what only asks whether a path exists asks Stat, and what
// only compares contents asks TreeHash, which write nothing. The returned
// func ends it.
func OnDemand(root string, l Lazy) (end func()) {
	onDemand.Store(root, l)
	return func() { onDemand.Delete(root) }
}

// Check makes Confine's checks of rel under root, writing nothing of a
// snapshot written on demand.
func Check(root, rel string) error {
	_, err := confine(root, rel, false)
	return err
}

// Stat is os.Stat of rel under root after Confine's checks. A snapshot
// written on demand answers from its index and writes nothing.
func Stat(root, rel string) (fs.FileInfo, error) {
	abs, err := confine(root, rel, false)
	if err != nil {
		return nil, err
	}
	if l, ok := onDemand.Load(root); ok {
		return l.(Lazy).Stat(filepath.ToSlash(rel))
	}
	return os.Stat(abs)
}

// TreeHash names what rel holds under root as Git names objects, without
// reading a snapshot written on demand: "blob MODE HASH" for a file,
// "tree HASH" for a directory (git write-tree's name for it: empty
// directories left out), "missing" when there is nothing. ok is false
// when Confine refuses rel, or a symlink is on the way or inside: the name
// would not cover what it leads to.
func TreeHash(root, rel string) (name string, ok bool) {
	abs, err := confine(root, rel, false)
	if err != nil {
		return "", false
	}
	if l, found := onDemand.Load(root); found {
		return l.(Lazy).TreeHash(filepath.ToSlash(rel))
	}
	if abs != filepath.Join(root, filepath.FromSlash(rel)) {
		return "", false // a symlink on the way
	}
	return diskHash(abs)
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
