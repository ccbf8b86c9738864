package source

import (
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/index"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// workTreeRevision returns "sha1:<HEAD>" for a directory tracked in a Git
// work tree, with "-dirty" when a tracked file under it differs from HEAD
// (in the index or in the work tree), and "" when Git does not track it.
//
// It answers as `git diff-index HEAD -- dir` would, but cheaply: files whose
// stat data (size, mtime, ctime, inode, mode) match what the index recorded
// are taken as unchanged without being read, as Git does, and only the
// others, and those modified too close to the index's own write to be sure
// ("racily clean"), are hashed. A clean work tree costs one lstat per file.
func workTreeRevision(root string) (string, error) {
	repo, err := git.PlainOpenWithOptions(root, &git.PlainOpenOptions{DetectDotGit: true, EnableDotGitCommonDir: true})
	if errors.Is(err, git.ErrRepositoryNotExists) {
		return "", nil
	}
	if err != nil {
		// A .git this library cannot read (a format it does not know) is
		// not an error of the user's: the content hash still names the
		// state exactly.
		return "", nil
	}
	wt, err := repo.Worktree()
	if err != nil {
		return "", nil // a bare repository
	}
	top, err := filepath.EvalSymlinks(wt.Filesystem.Root())
	if err != nil {
		return "", nil
	}
	prefix, err := filepath.Rel(top, root)
	if err != nil || prefix == ".." || strings.HasPrefix(prefix, ".."+string(filepath.Separator)) {
		return "", nil
	}
	prefix = filepath.ToSlash(prefix)
	if prefix == "." {
		prefix = ""
	}
	head, err := repo.Head()
	if err != nil {
		return "", nil // no commit yet
	}
	commit, err := repo.CommitObject(head.Hash())
	if err != nil {
		return "", fmt.Errorf("read HEAD commit %s: %w", head.Hash(), err)
	}
	tree, err := commit.Tree()
	if err != nil {
		return "", fmt.Errorf("read HEAD tree: %w", err)
	}
	if prefix != "" {
		if tree, err = tree.Tree(prefix); err != nil {
			return "", nil // not in HEAD: untracked or ignored
		}
	}
	idx, err := repo.Storer.Index()
	if err != nil {
		return "", fmt.Errorf("read the Git index: %w", err)
	}
	rev := "sha1:" + head.Hash().String()
	dirty, err := indexDiffers(idx, tree, prefix)
	if err != nil {
		return "", err
	}
	if !dirty {
		dirty, err = workTreeDiffers(idx, top, prefix, idx.ModTime)
		if err != nil {
			return "", err
		}
	}
	if dirty {
		rev += "-dirty"
	}
	return rev, nil
}

// entriesUnder returns the index entries under prefix ("" for all), keyed by
// their path relative to prefix. A conflict (an entry in a merge stage)
// makes the directory dirty.
func entriesUnder(idx *index.Index, prefix string) (map[string]*index.Entry, bool) {
	out := make(map[string]*index.Entry, len(idx.Entries))
	conflict := false
	for _, e := range idx.Entries {
		rel, ok := under(e.Name, prefix)
		if !ok {
			continue
		}
		if e.Stage != 0 {
			conflict = true
			continue
		}
		out[rel] = e
	}
	return out, conflict
}

func under(name, prefix string) (string, bool) {
	if prefix == "" {
		return name, true
	}
	rest, ok := strings.CutPrefix(name, prefix+"/")
	return rest, ok
}

// indexDiffers reports whether the index holds, under prefix, anything
// other than tree (HEAD's tree at prefix): staged changes.
func indexDiffers(idx *index.Index, tree *object.Tree, prefix string) (bool, error) {
	if idx.Cache != nil {
		if h, ok := cachedTree(idx.Cache, prefix); ok {
			return h != tree.Hash, nil
		}
	}
	entries, conflict := entriesUnder(idx, prefix)
	if conflict {
		return true, nil
	}
	seen := 0
	differs := false
	walker := object.NewTreeWalker(tree, true, nil)
	defer walker.Close()
	for {
		name, te, err := walker.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return false, fmt.Errorf("walk HEAD tree: %w", err)
		}
		if te.Mode == filemode.Dir {
			continue
		}
		e, ok := entries[name]
		if !ok || e.Hash != te.Hash || e.Mode != te.Mode || e.IntentToAdd {
			differs = true
			break
		}
		seen++
	}
	return differs || seen != len(entries), nil
}

// cachedTree finds prefix in the index's cache-tree extension, which Git
// keeps with the tree hash of every directory whose index entries have not
// changed since it last wrote a tree. ok is false when the directory is not
// there or its entry was invalidated.
func cachedTree(t *index.Tree, prefix string) (plumbing.Hash, bool) {
	// Entries are in pre-order; each names its path relative to its
	// parent and says how many subtrees follow it.
	type frame struct {
		path string
		left int
	}
	var stack []frame
	for _, e := range t.Entries {
		for len(stack) > 0 && stack[len(stack)-1].left == 0 {
			stack = stack[:len(stack)-1]
		}
		p := e.Path
		if len(stack) > 0 {
			parent := &stack[len(stack)-1]
			parent.left--
			p = path.Join(parent.path, e.Path)
		}
		if p == prefix {
			return e.Hash, e.Entries >= 0
		}
		stack = append(stack, frame{path: p, left: e.Trees})
	}
	return plumbing.ZeroHash, false
}

// workTreeDiffers reports whether a tracked file under prefix differs from
// its index entry. written is when the index was written: a file modified
// at or after it may have changed without its stat data showing it, and is
// hashed.
func workTreeDiffers(idx *index.Index, top, prefix string, written time.Time) (bool, error) {
	buf := make([]byte, 64<<10)
	for _, e := range idx.Entries {
		if _, ok := under(e.Name, prefix); !ok || e.SkipWorktree || e.Mode == filemode.Submodule {
			continue
		}
		p := filepath.Join(top, filepath.FromSlash(e.Name))
		st, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return true, nil
		}
		if err != nil {
			return false, fmt.Errorf("stat %s: %w", e.Name, err)
		}
		if !sameKind(e.Mode, st.Mode()) {
			return true, nil
		}
		if statMatches(e, st) && st.ModTime().Before(written) {
			continue
		}
		h, err := blobHash(p, st, buf)
		if err != nil {
			return false, fmt.Errorf("hash %s: %w", e.Name, err)
		}
		if h != e.Hash {
			return true, nil
		}
	}
	return false, nil
}

func sameKind(m filemode.FileMode, fm fs.FileMode) bool {
	switch m {
	case filemode.Symlink:
		return fm&fs.ModeSymlink != 0
	case filemode.Executable:
		return fm.IsRegular() && fm&0o100 != 0
	case filemode.Regular, filemode.Deprecated:
		return fm.IsRegular() && fm&0o100 == 0
	}
	return false
}

// statMatches compares what Git records of a file when it writes the index.
func statMatches(e *index.Entry, st fs.FileInfo) bool {
	if uint32(st.Size()) != e.Size || !sameTime(e.ModifiedAt, st.ModTime()) {
		return false
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return true
	}
	if e.Inode != 0 && uint32(sys.Ino) != e.Inode {
		return false
	}
	if !e.CreatedAt.IsZero() && !sameTime(e.CreatedAt, time.Unix(int64(sys.Ctim.Sec), int64(sys.Ctim.Nsec))) {
		return false
	}
	return true
}

// sameTime compares a recorded time with a file's; Git built without
// nanosecond support records whole seconds.
func sameTime(recorded, actual time.Time) bool {
	if recorded.Unix() != actual.Unix() {
		return false
	}
	return recorded.Nanosecond() == 0 || recorded.Nanosecond() == actual.Nanosecond()
}

// blobHash is the Git object name of a file's content, or of a symlink's
// target.
func blobHash(p string, st fs.FileInfo, buf []byte) (plumbing.Hash, error) {
	h := sha1.New()
	if st.Mode()&fs.ModeSymlink != 0 {
		target, err := os.Readlink(p)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		io.WriteString(h, "blob "+strconv.Itoa(len(target))+"\x00"+target)
		return plumbing.Hash(h.Sum(nil)), nil
	}
	f, err := os.Open(p)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	defer f.Close()
	io.WriteString(h, "blob "+strconv.FormatInt(st.Size(), 10)+"\x00")
	n, err := io.CopyBuffer(h, f, buf)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if n != st.Size() {
		// Written to while read: certainly not what the index holds.
		return plumbing.ZeroHash, nil
	}
	return plumbing.Hash(h.Sum(nil)), nil
}
