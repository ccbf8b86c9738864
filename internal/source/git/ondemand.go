package git

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// onDemandTree is a snapshot whose files are written when a render first
// reaches them: a preview's base, of which the render reads the folders
// its environment names, while the repository may hold thousands of other
// files (creating files is most of what a snapshot costs). The tree is
// checked whole when it is indexed, as a written snapshot is: names,
// entries, depth, and every symlink (made at once) resolving inside the
// root; file sizes are checked against the limits as files are written.
type onDemandTree struct {
	st     storer.EncodedObjectStorer
	root   string
	limits Limits
	// entries are the tree's directories, files and symlinks by their
	// slash-separated path from the root; children lists each directory's
	// ("" for the root).
	entries  map[string]treeEntry
	children map[string][]string

	mu sync.Mutex
	// done are the paths written whole: a file, or a directory with its
	// subtree and what its symlinks lead to.
	done map[string]bool
	// made are the directories and files created.
	made map[string]bool
	// links says, of each directory asked about, whether a symlink is in
	// its subtree.
	links map[string]bool
	// bytes are the files' written so far, against limits.TotalBytes.
	bytes int64
	// pending are the files a reach will write, by a few goroutines.
	pending []fileJob
	// failed is the first write that failed: the snapshot is then broken.
	failed error
}

type treeEntry struct {
	hash plumbing.Hash
	mode filemode.FileMode
	// target is a symlink's.
	target string
}

// maxHops bounds the symlinks followed for one path, as the kernel's
// ELOOP does; a loop is then left to Confine to report.
const maxHops = 40

// indexSnapshot checks tree, found at base in its repository, and returns
// it ready to be written on demand into dir (which must not exist): the
// symlinks and the files directly in the root are written now (the
// configuration is read there without Confine), the rest when reached.
func indexSnapshot(ctx context.Context, st storer.EncodedObjectStorer, tree *object.Tree, base, dir string, limits Limits) (*onDemandTree, error) {
	w, err := newWriter(dir, limits)
	if err != nil {
		return nil, err
	}
	t := &onDemandTree{st: st, root: w.root, limits: limits, entries: map[string]treeEntry{}, children: map[string][]string{},
		done: map[string]bool{}, made: map[string]bool{"": true}, links: map[string]bool{}}
	w.index = t
	if _, err := w.run(ctx, st, tree, nil, base, nil); err != nil {
		return nil, err
	}
	for _, p := range t.children[""] {
		if e := t.entries[p]; e.mode.IsFile() && e.mode != filemode.Symlink {
			if err := t.Reach(p); err != nil {
				return nil, err
			}
		}
	}
	return t, nil
}

// add records an entry found by the writer's walk.
func (t *onDemandTree) add(p string, e object.TreeEntry, target string) {
	t.entries[p] = treeEntry{hash: e.Hash, mode: e.Mode, target: target}
	parent := path.Dir(p)
	if parent == "." {
		parent = ""
	}
	t.children[parent] = append(t.children[parent], p)
}

// Reach writes what rel, a slash-separated path from the root, reaches:
// the directories on its way, the file or the whole directory it names,
// and what symlinks on the way lead to. A path the tree does not hold
// writes nothing: resolving it finds nothing, as in a written snapshot.
func (t *onDemandTree) Reach(rel string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.failed != nil {
		return t.failed
	}
	err := t.reachLocked(rel, 0)
	if ferr := t.flush(); err == nil {
		err = ferr
	}
	if err != nil {
		t.failed = err
	}
	return err
}

// flush writes the pending files, a few at once: creating files is bound
// by the filesystem's latency, not by the CPU.
func (t *onDemandTree) flush() error {
	jobs := t.pending
	t.pending = nil
	errList := make([]error, len(jobs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(writers, len(jobs)) {
		wg.Go(func() {
			for i := range next {
				if err := writeFile(jobs[i].dst, jobs[i].data, jobs[i].mode); err != nil {
					errList[i] = fmt.Errorf("write %q: %w", jobs[i].rel, err)
				}
			}
		})
	}
	for i := range jobs {
		next <- i
	}
	close(next)
	wg.Wait()
	return errors.Join(errList...)
}

func (t *onDemandTree) reachLocked(rel string, hops int) error {
	rel = path.Clean(rel)
	if rel == "." {
		rel = ""
	}
	if hops > maxHops || t.done[""] || rel == ".." || strings.HasPrefix(rel, "../") {
		return nil
	}
	var parts []string
	if rel != "" {
		parts = strings.Split(rel, "/")
	}
	cur := ""
	for i, name := range parts {
		p := path.Join(cur, name)
		if t.done[p] {
			return nil
		}
		e, ok := t.entries[p]
		switch {
		case !ok:
			return nil
		case e.mode == filemode.Symlink:
			// Made with the index; what it leads to is written in its place.
			return t.reachLocked(path.Join(append([]string{cur, e.target}, parts[i+1:]...)...), hops+1)
		case e.mode == filemode.Dir:
			if err := t.mkdir(p); err != nil {
				return err
			}
		case i < len(parts)-1:
			return nil // a file in the middle of the path
		default:
			return t.queueFile(p, e)
		}
		cur = p
	}
	return t.subtree(cur, hops)
}

// subtree writes directory dir whole, and what its symlinks lead to.
func (t *onDemandTree) subtree(dir string, hops int) error {
	t.done[dir] = true
	if err := t.mkdir(dir); err != nil {
		return err
	}
	for _, p := range t.children[dir] {
		var err error
		switch e := t.entries[p]; {
		case e.mode == filemode.Dir:
			if !t.done[p] {
				err = t.subtree(p, hops)
			}
		case e.mode == filemode.Symlink:
			err = t.reachLocked(path.Join(dir, e.target), hops+1)
		default:
			err = t.queueFile(p, e)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// mkdir creates directory p, its parent being made; one made for a
// symlink's sake already exists.
func (t *onDemandTree) mkdir(p string) error {
	if t.made[p] {
		return nil
	}
	err := os.Mkdir(filepath.Join(t.root, filepath.FromSlash(p)), 0o755)
	if errors.Is(err, fs.ErrExist) {
		var info fs.FileInfo
		if info, err = os.Lstat(filepath.Join(t.root, filepath.FromSlash(p))); err == nil && !info.IsDir() {
			err = fmt.Errorf("%q exists and is not a directory", p)
		}
	}
	if err != nil {
		return fmt.Errorf("write %q: %w", p, err)
	}
	t.made[p] = true
	return nil
}

// mkdirAll creates directory p and its parents; the writer calls it for
// each symlink's directory, with the lock not yet shared.
func (t *onDemandTree) mkdirAll(p string) error {
	if p == "." || p == "" {
		return nil
	}
	if err := t.mkdirAll(path.Dir(p)); err != nil {
		return err
	}
	return t.mkdir(p)
}

// queueFile reads file p from the store, once, and queues it to be
// written (flush); a file too large to hold is written at once.
func (t *onDemandTree) queueFile(p string, e treeEntry) error {
	if t.made[p] {
		return nil
	}
	obj, err := t.st.EncodedObject(plumbing.BlobObject, e.hash)
	if err != nil {
		return fmt.Errorf("read %q: %w", p, err)
	}
	size := obj.Size()
	switch l := t.limits; {
	case l.FileBytes > 0 && size > l.FileBytes:
		return &LimitError{Path: p, What: fmt.Sprintf("%d bytes, over the per-file limit of %d (--git-max-file-size)", size, l.FileBytes)}
	case l.TotalBytes > 0 && t.bytes+size > l.TotalBytes:
		return &LimitError{Path: p, What: fmt.Sprintf("brings the files written to %d bytes, over the limit of %d (--git-max-size)", t.bytes+size, l.TotalBytes)}
	}
	t.bytes += size
	t.made[p], t.done[p] = true, true
	job, err := blobFile(obj, e.mode, p, filepath.Join(t.root, filepath.FromSlash(p)), nil)
	if err == nil && job != nil {
		t.pending = append(t.pending, *job)
	}
	return err
}

// lookup finds the entry rel names, symlinks in the tree followed; found
// is false when the tree holds none. p is its path.
func (t *onDemandTree) lookup(rel string, hops int) (p string, e treeEntry, found bool) {
	rel = path.Clean(rel)
	if rel == "." {
		return "", treeEntry{mode: filemode.Dir}, true
	}
	if hops > maxHops || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", treeEntry{}, false
	}
	parts := strings.Split(rel, "/")
	cur := ""
	for i, name := range parts {
		p := path.Join(cur, name)
		e, ok := t.entries[p]
		switch {
		case !ok:
			return "", treeEntry{}, false
		case e.mode == filemode.Symlink:
			return t.lookup(path.Join(append([]string{cur, e.target}, parts[i+1:]...)...), hops+1)
		case e.mode != filemode.Dir && i < len(parts)-1:
			return "", treeEntry{}, false
		}
		cur = p
	}
	return cur, t.entries[cur], true
}

// Stat describes what rel reaches from the index; a file's size is not
// read (it reads 0).
func (t *onDemandTree) Stat(rel string) (fs.FileInfo, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p, e, ok := t.lookup(rel, 0)
	if !ok {
		return nil, &fs.PathError{Op: "stat", Path: filepath.Join(t.root, filepath.FromSlash(rel)), Err: fs.ErrNotExist}
	}
	info := indexInfo{name: path.Base(p), mode: 0o444}
	switch e.mode {
	case filemode.Dir:
		info.mode = fs.ModeDir | 0o755
	case filemode.Executable:
		info.mode = 0o555
	}
	return info, nil
}

// TreeHash names what rel holds as source.TreeHash does, from the index.
func (t *onDemandTree) TreeHash(rel string) (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	rel = path.Clean(rel)
	if rel == "." || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", false
	}
	cur := ""
	for _, name := range strings.Split(rel, "/") {
		p := path.Join(cur, name)
		e, ok := t.entries[p]
		switch {
		case !ok:
			return "missing", true
		case e.mode == filemode.Symlink:
			return "", false
		}
		cur = p
	}
	switch e := t.entries[cur]; e.mode {
	case filemode.Regular:
		return "blob 100644 " + e.hash.String(), true
	case filemode.Executable:
		return "blob 100755 " + e.hash.String(), true
	case filemode.Dir:
		if t.hasLink(cur) {
			return "", false
		}
		return "tree " + e.hash.String(), true
	}
	return "", false
}

// hasLink says whether directory dir's subtree holds a symlink.
func (t *onDemandTree) hasLink(dir string) bool {
	if v, ok := t.links[dir]; ok {
		return v
	}
	found := false
	for _, p := range t.children[dir] {
		if m := t.entries[p].mode; m == filemode.Symlink || m == filemode.Dir && t.hasLink(p) {
			found = true
			break
		}
	}
	t.links[dir] = found
	return found
}

// indexInfo is what Stat knows of an entry of the index.
type indexInfo struct {
	name string
	mode fs.FileMode
}

func (i indexInfo) Name() string       { return i.name }
func (i indexInfo) Size() int64        { return 0 }
func (i indexInfo) Mode() fs.FileMode  { return i.mode }
func (i indexInfo) ModTime() time.Time { return time.Time{} }
func (i indexInfo) IsDir() bool        { return i.mode.IsDir() }
func (i indexInfo) Sys() any           { return nil }
