package git

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"

	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/source"
)

// Revision is the Source of a local folder as one commit of its Git
// repository holds it: what a pull-request preview renders as its base.
// The folder's tree at the commit is checked as a fetched snapshot is
// (names, limits, symlinks) and written into a temporary directory as the
// render reaches for its files (source.OnDemand): a render reads the
// folders its environment names, not the rest of the repository. Close
// removes it. Nothing is fetched: the commit must be in the local
// repository.
type Revision struct {
	// Dir is the folder that holds config.yaml, inside a Git work tree.
	Dir string
	// Rev names the commit as git rev-parse does: a branch, a tag, a
	// remote branch (origin/main), a hash or a prefix of one, HEAD~1.
	Rev string
	// Limits bound the snapshot; DefaultLimits() when zero.
	Limits Limits

	mu   sync.Mutex
	tmp  string
	end  func()
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

// write indexes tree into a temporary directory, to be written on demand,
// and returns the snapshot's root. The root keeps the folder's name, which
// names the repository where config.yaml does not.
func (r *Revision) write(ctx context.Context, st storer.EncodedObjectStorer, tree *object.Tree, prefix string) (string, error) {
	limits := r.Limits
	if limits == (Limits{}) {
		limits = DefaultLimits()
	}
	tmp, err := os.MkdirTemp("", "envctl-base-")
	if err != nil {
		return "", err
	}
	t, err := indexSnapshot(ctx, st, tree, prefix, filepath.Join(tmp, filepath.Base(r.Dir)), limits)
	if err != nil {
		_ = os.RemoveAll(tmp)
		return "", err
	}
	r.tmp, r.end = tmp, source.OnDemand(t.root, t)
	return t.root, nil
}

// Close removes the snapshot.
func (r *Revision) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tmp == "" {
		return nil
	}
	r.end()
	err := os.RemoveAll(r.tmp)
	r.tmp, r.end, r.snap = "", nil, nil
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
