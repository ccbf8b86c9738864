package git

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"

	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/source"
)

// Revision is the Source of a local folder as one commit of its Git
// repository holds it: what a pull-request preview renders as its base.
// The folder's tree at the commit is written with the checks and limits of
// a fetched snapshot, into the cache (CacheDir) or a temporary directory
// that Close removes. Nothing is fetched: the commit must be in the local
// repository.
type Revision struct {
	// Dir is the folder that holds config.yaml, inside a Git work tree.
	Dir string
	// Rev names the commit as git rev-parse does: a branch, a tag, a
	// remote branch (origin/main), a hash or a prefix of one, HEAD~1.
	Rev string
	// Limits bound the snapshot; DefaultLimits() when zero.
	Limits Limits
	// CacheDir, when set, keeps the snapshot under CacheDir/trees, named
	// by the folder's tree hash, for the next preview at a base with the
	// same content; the newest KeepTrees are kept. Without it the snapshot
	// is temporary and Close removes it.
	CacheDir string

	mu   sync.Mutex
	tmp  string
	snap *source.Snapshot
}

// String names the folder and the revision.
func (r *Revision) String() string { return r.Dir + " at " + r.Rev }

// Snapshot writes the folder's tree at Rev, once; later calls return the
// same snapshot.
func (r *Revision) Snapshot(ctx context.Context) (*source.Snapshot, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.snap != nil {
		snap := *r.snap
		return &snap, nil
	}
	repo, prefix, err := openWorkTree(r.Dir)
	if err != nil {
		return nil, err
	}
	hash, err := repo.ResolveRevision(plumbing.Revision(r.Rev))
	if err != nil {
		return nil, errs.Inputf("no such commit in the repository of %s (%v); a shallow clone may lack it: fetch it, as in git fetch origin %s", r.Dir, err, r.Rev)
	}
	commit, err := repo.CommitObject(*hash)
	if err != nil {
		return nil, errs.Inputf("read commit %s: %v", hash, err)
	}
	tree, err := commit.Tree()
	if err != nil {
		return nil, fmt.Errorf("read the tree of %s: %w", hash, err)
	}
	if prefix != "" {
		if tree, err = tree.Tree(prefix); err != nil {
			return nil, errs.Inputf("commit %s has no folder %s", shortHash(hash.String()), prefix)
		}
	}
	root, err := r.write(ctx, repo.Storer, tree, prefix)
	if err != nil {
		return nil, err
	}
	r.snap = &source.Snapshot{Root: root, Revision: revisionOf(r.Rev, hash.String())}
	snap := *r.snap
	return &snap, nil
}

// KeepTrees is how many cached snapshots Revision keeps.
const KeepTrees = 5

// write writes tree into the cache, or into a temporary directory, unless
// the cache holds it already, and returns the snapshot's root. The root
// keeps the folder's name, which names the repository where config.yaml
// does not.
func (r *Revision) write(ctx context.Context, st storer.EncodedObjectStorer, tree *object.Tree, prefix string) (string, error) {
	limits := r.Limits
	if limits == (Limits{}) {
		limits = DefaultLimits()
	}
	name := filepath.Base(r.Dir)
	var final string
	parent := os.TempDir()
	if r.CacheDir != "" {
		parent = filepath.Join(r.CacheDir, "trees")
		final = filepath.Join(parent, tree.Hash.String())
		if _, err := os.Stat(filepath.Join(final, name)); err == nil {
			now := time.Now()
			_ = os.Chtimes(final, now, now) // the newest are kept
			return filepath.EvalSymlinks(filepath.Join(final, name))
		}
		if err := os.MkdirAll(parent, 0o700); err != nil {
			return "", fmt.Errorf("create the snapshot cache: %w", err)
		}
	}
	tmp, err := os.MkdirTemp(parent, "tmp-")
	if err != nil {
		return "", err
	}
	if _, err := writeSnapshot(ctx, st, tree, prefix, filepath.Join(tmp, name), limits, nil, nil); err != nil {
		_ = os.RemoveAll(tmp)
		return "", err
	}
	if final == "" {
		r.tmp = tmp
		return filepath.EvalSymlinks(filepath.Join(tmp, name))
	}
	// Another process may have written the same tree meanwhile: either
	// copy is the same.
	if err := os.Rename(tmp, final); err != nil {
		_ = os.RemoveAll(tmp)
	}
	pruneTrees(parent, final)
	return filepath.EvalSymlinks(filepath.Join(final, name))
}

// pruneTrees deletes all but the newest KeepTrees snapshots in dir (and
// temporary ones an interrupted run left a day ago); keep is never deleted.
func pruneTrees(dir, keep string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	type tree struct {
		path string
		mod  time.Time
	}
	var trees []tree
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !e.IsDir() {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if strings.HasPrefix(e.Name(), "tmp-") {
			if time.Since(info.ModTime()) > 24*time.Hour {
				_ = os.RemoveAll(p)
			}
			continue
		}
		trees = append(trees, tree{p, info.ModTime()})
	}
	sort.Slice(trees, func(i, j int) bool { return trees[i].mod.After(trees[j].mod) })
	for i, t := range trees {
		if i >= KeepTrees && t.path != keep {
			_ = os.RemoveAll(t.path)
		}
	}
}

// Close removes the written snapshot.
func (r *Revision) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tmp == "" {
		return nil
	}
	err := os.RemoveAll(r.tmp)
	r.tmp, r.snap = "", nil
	return err
}

// openWorkTree opens the Git repository whose work tree holds dir, and
// returns dir's slash-separated path in it ("" for its top).
func openWorkTree(dir string) (*git.Repository, string, error) {
	abs, err := filepath.Abs(dir)
	if err == nil {
		abs, err = filepath.EvalSymlinks(abs)
	}
	if err != nil {
		return nil, "", errs.Input(fmt.Errorf("source %s: %w", dir, err))
	}
	repo, err := git.PlainOpenWithOptions(abs, &git.PlainOpenOptions{DetectDotGit: true, EnableDotGitCommonDir: true})
	if errors.Is(err, git.ErrRepositoryNotExists) {
		return nil, "", errs.Inputf("--base needs a Git repository: %s is not in a Git work tree", dir)
	}
	if err != nil {
		return nil, "", fmt.Errorf("open the Git repository of %s: %w", dir, err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		return nil, "", errs.Inputf("--base needs a Git work tree: %s: %v", dir, err)
	}
	top, err := filepath.EvalSymlinks(wt.Filesystem.Root())
	if err != nil {
		return nil, "", err
	}
	rel, err := filepath.Rel(top, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return nil, "", errs.Inputf("%s is outside the work tree %s", dir, top)
	}
	if rel = filepath.ToSlash(rel); rel == "." {
		rel = ""
	}
	return repo, rel, nil
}

// revisionOf writes a commit's revision as snapshots do: "sha1:<hex>" when
// rev names it by hash, "<rev>@sha1:<hex>" when by a name.
func revisionOf(rev, hash string) string {
	if strings.HasPrefix(hash, strings.ToLower(rev)) {
		return "sha1:" + hash
	}
	return rev + "@sha1:" + hash
}

// RefOf reads a revision named for a remote: a full commit hash, tags/NAME
// (or refs/tags/NAME), or a branch (NAME or refs/heads/NAME).
func RefOf(rev string) Ref {
	switch {
	case isFullHash(rev):
		return Ref{Commit: rev}
	case strings.HasPrefix(rev, "refs/tags/"), strings.HasPrefix(rev, "tags/"):
		return Ref{Tag: rev[strings.Index(rev, "tags/")+len("tags/"):]}
	}
	return Ref{Branch: strings.TrimPrefix(rev, "refs/heads/")}
}
