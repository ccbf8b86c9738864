package git

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// Limits bound what a snapshot may hold, so that a repository cannot fill
// the disk or the memory of the machine that reads it. Git stores a tree
// once however often it is named: a few kilobytes of trees that name one
// subtree a thousand times over, a few levels deep, expand into billions
// of directories, so directories count as entries as files do.
type Limits struct {
	// Files is the most entries: files, symlinks, directories and
	// submodules.
	Files int
	// TotalBytes is the most bytes of file content in all.
	TotalBytes int64
	// FileBytes is the largest a single file may be.
	FileBytes int64
	// Depth is the most directories (submodules included) one path may
	// go through; DefaultDepth when zero.
	Depth int
}

// DefaultDepth is the nesting DefaultLimits allow, far beyond a
// repository of manifests and charts.
const DefaultDepth = 64

// DefaultLimits are generous for a repository of manifests and charts and
// still stop a tree that would fill a disk.
func DefaultLimits() Limits {
	return Limits{Files: 100_000, TotalBytes: 1 << 30, FileBytes: 64 << 20, Depth: DefaultDepth}
}

// PathError is a tree entry that envctl refuses to write.
type PathError struct {
	// Path is the entry's path from the snapshot's root.
	Path string
	// Reason says why.
	Reason string
}

func (e *PathError) Error() string {
	return fmt.Sprintf("refusing %q: %s", e.Path, e.Reason)
}

// LimitError is a tree over one of the Limits.
type LimitError struct {
	// Path is the entry that went over, when one did.
	Path string
	// What says which limit and by how much.
	What string
}

func (e *LimitError) Error() string {
	if e.Path == "" {
		return "the tree is too large: " + e.What
	}
	return fmt.Sprintf("%q: %s", e.Path, e.What)
}

// CheckName checks one path component of a tree entry: it must not be
// empty, "." or "..", hold a slash, a backslash or a NUL, or name Git's own
// directory in any spelling a filesystem might fold to .git (.GIT, ".git.",
// "git~1").
func CheckName(name string) error {
	switch {
	case name == "":
		return errors.New("an empty name")
	case name == "." || name == "..":
		return fmt.Errorf("a %q component", name)
	case strings.ContainsAny(name, "/\\\x00"):
		return errors.New("a name with a slash, backslash or NUL")
	}
	folded := strings.ToLower(strings.TrimRight(name, ". "))
	if folded == ".git" || folded == "git~1" {
		return errors.New("a .git entry, which could rewrite a repository's configuration")
	}
	return nil
}

// CheckPath checks a slash-separated relative path, such as --path, with
// CheckName on each component. "" and "." are the root.
func CheckPath(p string) error {
	if p == "" || p == "." {
		return nil
	}
	if strings.HasPrefix(p, "/") || filepath.IsAbs(p) {
		return errors.New("an absolute path")
	}
	for _, part := range strings.Split(strings.TrimSuffix(p, "/"), "/") {
		if err := CheckName(part); err != nil {
			return err
		}
	}
	return nil
}

// stats is what a written snapshot holds, kept beside it so that a later
// run with other limits can check them without reading the tree again.
type stats struct {
	Files      int   `json:"files"`
	Bytes      int64 `json:"bytes"`
	Largest    int64 `json:"largest"`
	Submodules int   `json:"submodules"`
	// Dirs counts the directories, submodules' included.
	Dirs int `json:"dirs"`
	// Depth is the deepest nesting of directories.
	Depth int `json:"depth"`
}

// entries counts what the Files limit bounds.
func (s stats) entries() int { return s.Files + s.Dirs + s.Submodules }

// check compares stats with limits, for a snapshot written before.
func (s stats) check(l Limits) error {
	switch {
	case l.Files > 0 && s.entries() > l.Files:
		return &LimitError{What: fmt.Sprintf("%d entries (files, directories, symlinks and submodules), over the limit of %d", s.entries(), l.Files)}
	case s.Depth > l.depth():
		return &LimitError{What: fmt.Sprintf("directories nested %d deep, over the limit of %d", s.Depth, l.depth())}
	case l.TotalBytes > 0 && s.Bytes > l.TotalBytes:
		return &LimitError{What: fmt.Sprintf("%d bytes, over the limit of %d", s.Bytes, l.TotalBytes)}
	case l.FileBytes > 0 && s.Largest > l.FileBytes:
		return &LimitError{What: fmt.Sprintf("a file of %d bytes, over the per-file limit of %d", s.Largest, l.FileBytes)}
	}
	return nil
}

// depth is the nesting allowed.
func (l Limits) depth() int {
	if l.Depth <= 0 {
		return DefaultDepth
	}
	return l.Depth
}

// submoduleFunc fetches the commit of the submodule at path (from the
// tree's root) and returns the storer and tree to write there, and the
// submoduleFunc of that repository for its own submodules; nil refuses
// submodules.
type submoduleFunc func(ctx context.Context, path string, commit plumbing.Hash) (storer.EncodedObjectStorer, *object.Tree, submoduleFunc, error)

// writer writes a tree's files from the object store into a directory with
// envctl's own checks, not go-git's worktree checkout: names are checked,
// nothing is written through a symlink (symlinks are made last), every
// symlink must resolve inside the directory, and the tree must stay within
// the limits.
//
// Files are created by a few goroutines (the object store is read by one):
// creating thousands of small files is bound by the filesystem's latency,
// not by the CPU. A file whose blob is the one the previous snapshot has at
// the same path is hard-linked from it instead of written: snapshots are
// never modified, and a new commit usually changes a few files of
// thousands.
type writer struct {
	limits Limits
	root   string
	stats  stats
	links  []link
	buf    []byte
	// prev is the root of the previous snapshot, whose tree is passed
	// along to tree; "" for none.
	prev string
	// index, when set, takes the directories and files instead of the
	// disk: the tree is checked whole and written on demand.
	index *onDemandTree

	jobs    chan fileJob
	workers sync.WaitGroup
	mu      sync.Mutex
	failed  error
}

// fileJob is one file for a worker to make: data written into a new file,
// or a hard link to from.
type fileJob struct {
	dst, rel string
	data     []byte
	mode     os.FileMode
	from     string
}

// writers is how many goroutines create files.
const writers = 4

// inMemory is the largest blob handed to a worker in memory; larger ones
// are streamed to disk by the reading goroutine.
const inMemory = 1 << 20

// link is a symlink to make once every file is written.
type link struct {
	rel, target string
}

// previous is a snapshot a new one may take unchanged files from: its
// directory and the tree it was written from.
type previous struct {
	dir  string
	tree *object.Tree
}

// writeSnapshot writes tree, found at base in its repository, into dir
// (which must not exist) and returns what it holds. On error dir may hold
// part of the tree; the caller removes it.
func writeSnapshot(ctx context.Context, st storer.EncodedObjectStorer, tree *object.Tree, base, dir string, limits Limits, subs submoduleFunc, prev *previous) (stats, error) {
	w, err := newWriter(dir, limits)
	if err != nil {
		return stats{}, err
	}
	var prevTree *object.Tree
	if prev != nil {
		w.prev, prevTree = prev.dir, prev.tree
	}
	return w.run(ctx, st, tree, prevTree, base, subs)
}

// newWriter creates dir, which must not exist, for a writer.
func newWriter(dir string, limits Limits) (*writer, error) {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, err
	}
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, err
	}
	return &writer{limits: limits, root: root, buf: make([]byte, 64<<10), jobs: make(chan fileJob, 64)}, nil
}

// run writes (or indexes) tree and makes its symlinks.
func (w *writer) run(ctx context.Context, st storer.EncodedObjectStorer, tree, prevTree *object.Tree, base string, subs submoduleFunc) (stats, error) {
	for range writers {
		w.workers.Go(w.work)
	}
	err := w.tree(ctx, st, tree, prevTree, "", base, subs, 0)
	close(w.jobs)
	w.workers.Wait()
	if err == nil {
		err = w.failure()
	}
	if err != nil {
		return w.stats, err
	}
	return w.stats, w.makeLinks()
}

// work makes the files of the jobs it gets until they end; after a
// failure it drains them.
func (w *writer) work() {
	for j := range w.jobs {
		if w.failure() != nil {
			continue
		}
		var err error
		if j.from != "" {
			if err = os.Link(j.from, j.dst); err != nil {
				// A filesystem without hard links: copy.
				err = copyFile(j.from, j.dst)
			}
		} else {
			err = writeFile(j.dst, j.data, j.mode)
		}
		if err != nil {
			w.fail(fmt.Errorf("write %q: %w", j.rel, err))
		}
	}
}

func (w *writer) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failed == nil {
		w.failed = err
	}
}

func (w *writer) failure() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.failed
}

// copyFile copies the regular file from into dst, keeping its mode.
func copyFile(from, dst string) error {
	info, err := os.Lstat(from)
	if err != nil {
		return err
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", from)
	}
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return writeFile(dst, data, info.Mode().Perm())
}

// writeFile creates dst, which must not exist (O_EXCL: never through an
// existing name, symlink or not), read-only: a snapshot is not changed.
func writeFile(dst string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, mode)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// tree writes t's entries under rel ("" for the root), which exists. base
// is rel's path in the repository t belongs to, which its submodules are
// named by. prev is the previous snapshot's tree at rel, or nil. depth is
// how many directories rel goes through.
func (w *writer) tree(ctx context.Context, st storer.EncodedObjectStorer, t, prev *object.Tree, rel, base string, subs submoduleFunc, depth int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := w.failure(); err != nil {
		return err
	}
	var before map[string]object.TreeEntry
	if prev != nil {
		before = make(map[string]object.TreeEntry, len(prev.Entries))
		for _, e := range prev.Entries {
			before[e.Name] = e
		}
	}
	seen := make(map[string]bool, len(t.Entries))
	for _, e := range t.Entries {
		p := path.Join(rel, e.Name)
		if rel == "" {
			p = e.Name
		}
		if err := CheckName(e.Name); err != nil {
			return &PathError{Path: strings.TrimPrefix(rel+"/"+e.Name, "/"), Reason: err.Error()}
		}
		if seen[e.Name] {
			return &PathError{Path: p, Reason: "a second entry of the same name in its tree"}
		}
		seen[e.Name] = true
		dst := filepath.Join(w.root, filepath.FromSlash(p))
		switch e.Mode {
		case filemode.Dir:
			if err := w.countDir(p, depth+1, false); err != nil {
				return err
			}
			sub, err := object.GetTree(st, e.Hash)
			if err != nil {
				return fmt.Errorf("read tree %q: %w", p, err)
			}
			if w.index != nil {
				w.index.add(p, e, "")
			} else if err := os.Mkdir(dst, 0o755); err != nil {
				return fmt.Errorf("write %q: %w", p, err)
			}
			var prevSub *object.Tree
			if old, ok := before[e.Name]; ok && old.Mode == filemode.Dir {
				prevSub, _ = object.GetTree(st, old.Hash)
			}
			if err := w.tree(ctx, st, sub, prevSub, p, path.Join(base, e.Name), subs, depth+1); err != nil {
				return err
			}
		case filemode.Regular, filemode.Deprecated, filemode.Executable:
			if w.index != nil {
				if err := w.indexFile(e, p); err != nil {
					return err
				}
				continue
			}
			if old, ok := before[e.Name]; ok && old.Hash == e.Hash && old.Mode == e.Mode {
				if err := w.reuse(st, e, p, dst); err != nil {
					return err
				}
				continue
			}
			if err := w.file(st, e, p, dst); err != nil {
				return err
			}
		case filemode.Symlink:
			if err := w.symlink(st, e, p); err != nil {
				return err
			}
		case filemode.Submodule:
			if subs == nil {
				return &PathError{Path: p, Reason: "a submodule (gitlink); pass --recurse-submodules to fetch it"}
			}
			// Counted before it is fetched: a fetch is the costly part.
			if err := w.countDir(p, depth+1, true); err != nil {
				return err
			}
			subSt, subTree, nested, err := subs(ctx, path.Join(base, e.Name), e.Hash)
			if err != nil {
				return fmt.Errorf("submodule %q: %w", p, err)
			}
			if err := os.Mkdir(dst, 0o755); err != nil {
				return fmt.Errorf("write %q: %w", p, err)
			}
			if err := w.tree(ctx, subSt, subTree, nil, p, "", nested, depth+1); err != nil {
				return err
			}
		default:
			return &PathError{Path: p, Reason: fmt.Sprintf("an entry of unknown mode %o", uint32(e.Mode))}
		}
	}
	return nil
}

// countDir adds one directory (or submodule) at depth, checking the
// limits before it is made or fetched.
func (w *writer) countDir(p string, depth int, submodule bool) error {
	if submodule {
		w.stats.Submodules++
	} else {
		w.stats.Dirs++
	}
	w.stats.Depth = max(w.stats.Depth, depth)
	l := w.limits
	switch {
	case depth > l.depth():
		return &LimitError{Path: p, What: fmt.Sprintf("directories nested %d deep, over the limit of %d", depth, l.depth())}
	case l.Files > 0 && w.stats.entries() > l.Files:
		return &LimitError{Path: p, What: fmt.Sprintf("entry number %d, over the limit of %d entries (files, directories, symlinks and submodules; --git-max-files)", w.stats.entries(), l.Files)}
	}
	return nil
}

// count adds one file of size bytes, checking the limits before anything
// is read.
func (w *writer) count(p string, size int64) error {
	w.stats.Files++
	w.stats.Bytes += size
	w.stats.Largest = max(w.stats.Largest, size)
	l := w.limits
	switch {
	case l.FileBytes > 0 && size > l.FileBytes:
		return &LimitError{Path: p, What: fmt.Sprintf("%d bytes, over the per-file limit of %d (--git-max-file-size)", size, l.FileBytes)}
	case l.Files > 0 && w.stats.entries() > l.Files:
		return &LimitError{Path: p, What: fmt.Sprintf("entry number %d, over the limit of %d entries (files, directories, symlinks and submodules; --git-max-files)", w.stats.entries(), l.Files)}
	case l.TotalBytes > 0 && w.stats.Bytes > l.TotalBytes:
		return &LimitError{Path: p, What: fmt.Sprintf("brings the tree to %d bytes, over the limit of %d (--git-max-size)", w.stats.Bytes, l.TotalBytes)}
	}
	return nil
}

func (w *writer) file(st storer.EncodedObjectStorer, e object.TreeEntry, p, dst string) error {
	obj, err := st.EncodedObject(plumbing.BlobObject, e.Hash)
	if err != nil {
		return fmt.Errorf("read %q: %w", p, err)
	}
	size := obj.Size()
	if err := w.count(p, size); err != nil {
		return err
	}
	job, err := blobFile(obj, e.Mode, p, dst, w.buf)
	if err == nil && job != nil {
		w.jobs <- *job
	}
	return err
}

// blobFile reads the blob obj, file p of the tree (mode its tree mode), to
// be written into dst, which must not exist: a blob of up to inMemory
// bytes is returned as a job for a writer goroutine; a larger one is
// streamed into dst now (and no job is returned).
func blobFile(obj plumbing.EncodedObject, m filemode.FileMode, p, dst string, buf []byte) (*fileJob, error) {
	size := obj.Size()
	mode := os.FileMode(0o444)
	if m == filemode.Executable {
		mode = 0o555
	}
	r, err := obj.Reader()
	if err != nil {
		return nil, fmt.Errorf("read %q: %w", p, err)
	}
	defer r.Close()
	if size <= inMemory {
		data := make([]byte, size+1)
		n, err := io.ReadFull(r, data)
		if err != io.ErrUnexpectedEOF && err != nil {
			return nil, fmt.Errorf("read %q: %w", p, err)
		}
		if int64(n) != size {
			return nil, fmt.Errorf("read %q: the object holds %d bytes or more, not the %d it declares", p, n, size)
		}
		return &fileJob{dst: dst, rel: p, data: data[:n], mode: mode}, nil
	}
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, mode)
	if err != nil {
		return nil, fmt.Errorf("write %q: %w", p, err)
	}
	n, err := io.CopyBuffer(f, io.LimitReader(r, size+1), buf)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("write %q: %w", p, err)
	}
	if n != size {
		return nil, fmt.Errorf("write %q: the object holds %d bytes, not the %d it declares", p, n, size)
	}
	return nil, nil
}

// reuse hard-links a file the previous snapshot has, unchanged, at the
// same path; only its size is read from the store, for the limits.
func (w *writer) reuse(st storer.EncodedObjectStorer, e object.TreeEntry, p, dst string) error {
	if err := w.countBlob(st, e, p); err != nil {
		return err
	}
	w.jobs <- fileJob{dst: dst, rel: p, from: filepath.Join(w.prev, filepath.FromSlash(p))}
	return nil
}

// indexFile counts a file and records it to be written when reached; its
// bytes are counted then, against the limits (reading every blob's size
// now would cost as much as the files a render never reads).
func (w *writer) indexFile(e object.TreeEntry, p string) error {
	if err := w.count(p, 0); err != nil {
		return err
	}
	w.index.add(p, e, "")
	return nil
}

// countBlob counts a file by its size alone, read from the store without
// the content where the store can.
func (w *writer) countBlob(st storer.EncodedObjectStorer, e object.TreeEntry, p string) error {
	var size int64
	if sizer, ok := st.(interface {
		EncodedObjectSize(plumbing.Hash) (int64, error)
	}); ok {
		n, err := sizer.EncodedObjectSize(e.Hash)
		if err != nil {
			return fmt.Errorf("read %q: %w", p, err)
		}
		size = n
	} else {
		obj, err := st.EncodedObject(plumbing.BlobObject, e.Hash)
		if err != nil {
			return fmt.Errorf("read %q: %w", p, err)
		}
		size = obj.Size()
	}
	return w.count(p, size)
}

// maxLinkTarget bounds a symlink's target, as PATH_MAX does.
const maxLinkTarget = 4096

func (w *writer) symlink(st storer.EncodedObjectStorer, e object.TreeEntry, p string) error {
	obj, err := st.EncodedObject(plumbing.BlobObject, e.Hash)
	if err != nil {
		return fmt.Errorf("read %q: %w", p, err)
	}
	if obj.Size() > maxLinkTarget {
		return &PathError{Path: p, Reason: fmt.Sprintf("a symlink target of %d bytes", obj.Size())}
	}
	if err := w.count(p, obj.Size()); err != nil {
		return err
	}
	r, err := obj.Reader()
	if err != nil {
		return fmt.Errorf("read %q: %w", p, err)
	}
	defer r.Close()
	target, err := io.ReadAll(io.LimitReader(r, maxLinkTarget+1))
	if err != nil {
		return fmt.Errorf("read %q: %w", p, err)
	}
	t := string(target)
	switch {
	case t == "" || strings.ContainsRune(t, 0):
		return &PathError{Path: p, Reason: "a symlink with an empty target or a NUL in it"}
	case strings.HasPrefix(t, "/") || filepath.IsAbs(t):
		return &PathError{Path: p, Reason: fmt.Sprintf("a symlink to the absolute path %q, outside the snapshot", t)}
	}
	w.links = append(w.links, link{rel: p, target: t})
	if w.index != nil {
		w.index.add(p, e, t)
	}
	return nil
}

// makeLinks creates the symlinks, then checks that each resolves inside
// the root as the operating system would follow it (through the other
// links), not as its text reads.
func (w *writer) makeLinks() error {
	sort.Slice(w.links, func(i, j int) bool { return w.links[i].rel < w.links[j].rel })
	for _, l := range w.links {
		dst := filepath.Join(w.root, filepath.FromSlash(l.rel))
		if w.index != nil {
			// Directories are written on demand; a link's are made now.
			if err := w.index.mkdirAll(path.Dir(l.rel)); err != nil {
				return fmt.Errorf("write %q: %w", l.rel, err)
			}
		}
		if err := os.Symlink(l.target, dst); err != nil {
			return fmt.Errorf("write %q: %w", l.rel, err)
		}
	}
	for _, l := range w.links {
		dir := filepath.Join(w.root, filepath.FromSlash(path.Dir(l.rel)))
		// Joined by hand: filepath.Join would clean "x/.." away before x
		// is known not to be a symlink.
		resolved, err := evalLenient(dir + string(filepath.Separator) + filepath.FromSlash(l.target))
		if err != nil {
			reason := "it cannot be followed"
			if errors.Is(err, syscall.ELOOP) {
				reason = "it is part of a loop"
			}
			return &PathError{Path: l.rel, Reason: fmt.Sprintf("a symlink to %q, and %s", l.target, reason)}
		}
		if !within(w.root, resolved) {
			return &PathError{Path: l.rel, Reason: fmt.Sprintf("a symlink to %q, which resolves outside the snapshot", l.target)}
		}
	}
	return nil
}

// evalLenient resolves the symlinks of p as far as p exists and appends
// the rest, which no symlink can redirect since it does not exist.
func evalLenient(p string) (string, error) {
	rest := ""
	cur := p
	for {
		real, err := filepath.EvalSymlinks(cur)
		if err == nil {
			return filepath.Join(real, rest), nil
		}
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			return "", err
		}
		i := strings.LastIndexByte(cur, filepath.Separator)
		if i <= 0 {
			return filepath.Clean(p), nil
		}
		rest = filepath.Join(cur[i+1:], rest)
		cur = cur[:i]
	}
}

func within(root, p string) bool {
	return p == root || strings.HasPrefix(p, root+string(filepath.Separator))
}
