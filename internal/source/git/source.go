// Package git is the Source of a Git repository: it lists the remote's refs
// on every Snapshot, fetches only when the ref moved (a shallow first fetch,
// then the new commits into a persistent object store per URL and ref),
// verifies signatures when asked, and writes the commit's tree into an
// immutable snapshot directory with its own confined writer.
package git

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/source"
)

// Options configure a Source.
type Options struct {
	// URL is the repository: https://, http:// (without credentials),
	// ssh://, scp-like, or file:// when AllowFile is set.
	URL string
	// Ref is the branch, tag, version range or commit; the remote's HEAD
	// branch when empty.
	Ref Ref
	// Path is the folder in the repository that holds config.yaml; "" is
	// the root. Only that folder is written to the snapshot.
	Path string
	// Auth holds the credentials and trust anchors.
	Auth Auth
	// CacheDir holds the object stores and snapshots; DefaultCacheDir()
	// when empty.
	CacheDir string
	// Limits bound the snapshot; DefaultLimits() when zero.
	Limits Limits
	// RecurseSubmodules fetches submodules and writes them into the
	// snapshot; without it a tree with a submodule is refused.
	RecurseSubmodules bool
	// Keys, when set, must have signed the commit (or, for a tag or a
	// version range, the tag).
	Keys *Keys
	// Timeout bounds each Snapshot call, listing and fetching included;
	// 0 is no bound beyond the context's.
	Timeout time.Duration
	// AllowFile lets URL be file://, which only the command line accepts:
	// a daemon must not read its own filesystem at a user's request.
	AllowFile bool
	// KeepSnapshots is how many snapshot directories to keep (the
	// newest); 3 when 0.
	KeepSnapshots int
	// Logger receives progress (info) and detail (debug); none when nil.
	Logger *slog.Logger
}

// Source is a Git repository at a ref. It is safe for concurrent use, and
// envctl processes sharing a cache directory take turns on each store.
type Source struct {
	opts   Options
	url    *URL
	client *client
	// dir is the store of (URL, ref) in the cache.
	dir  string
	path string
	log  *slog.Logger

	mu sync.Mutex
	// last is the previous result, returned again while the ref names the
	// same object and its directory exists.
	last *result
}

// result is one Snapshot's outcome, kept for the next call.
type result struct {
	want plumbing.Hash
	snap source.Snapshot
}

// DefaultCacheDir is $XDG_CACHE_HOME/envctl/git (~/.cache/envctl/git).
func DefaultCacheDir() (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find the cache directory (set XDG_CACHE_HOME or --cache-dir): %w", err)
	}
	return filepath.Join(base, "envctl", "git"), nil
}

// New checks the options and reads the credential files; it makes no
// request. Every error is bad input.
func New(opts Options) (*Source, error) {
	u, err := ParseURL(opts.URL)
	if err != nil {
		return nil, errs.Input(fmt.Errorf("--git: %w", err))
	}
	if err := opts.Ref.Validate(); err != nil {
		return nil, errs.Input(err)
	}
	p := strings.Trim(path.Clean("/"+filepath.ToSlash(opts.Path)), "/")
	if opts.Path != "" && strings.Contains("/"+filepath.ToSlash(opts.Path)+"/", "/../") {
		return nil, errs.Inputf("--path %q may not climb out of the repository", opts.Path)
	}
	if err := CheckPath(p); err != nil {
		return nil, errs.Inputf("--path %q: %v", opts.Path, err)
	}
	if opts.Auth.Password != "" && opts.Auth.PasswordFrom == "" {
		opts.Auth.PasswordFrom = "the password given"
	}
	c, err := newClient(u, opts.Auth, opts.AllowFile)
	if err != nil {
		return nil, errs.Input(err)
	}
	if sa, ok := c.auth.(*sshAuth); ok {
		sa.timeout = opts.Timeout
	}
	if opts.CacheDir == "" {
		if opts.CacheDir, err = DefaultCacheDir(); err != nil {
			return nil, errs.Input(err)
		}
	}
	if opts.Limits == (Limits{}) {
		opts.Limits = DefaultLimits()
	}
	if opts.KeepSnapshots <= 0 {
		opts.KeepSnapshots = 3
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Source{opts: opts, url: u, client: c, dir: storeDir(opts.CacheDir, u, opts.Ref), path: p, log: log}, nil
}

// String names the repository and ref, without credentials.
func (s *Source) String() string {
	out := s.url.String() + " (" + s.opts.Ref.String()
	if s.path != "" {
		out += ", path " + s.path
	}
	return out + ")"
}

// Path is the folder of the repository that holds config.yaml; "" for its
// root.
func (s *Source) Path() string { return s.path }

// DirName is the name of the folder that holds config.yaml as a clone of
// the repository would have it: the last element of --path, else the
// repository's name from its URL without ".git". It stands for the
// repository where a local checkout's folder name would (see the
// inventory's repository identity), so a checkout and its remote agree.
func (s *Source) DirName() string {
	if s.path != "" {
		return path.Base(s.path)
	}
	name := strings.TrimSuffix(path.Base(strings.TrimRight(s.url.Path, "/")), ".git")
	if name == "" || name == "." || name == "/" {
		return s.url.String()
	}
	return name
}

// Snapshot lists the remote's refs and returns the snapshot of the commit
// the ref names, fetching and writing it only when it is not already in
// the cache. An unchanged ref costs one listing.
func (s *Source) Snapshot(ctx context.Context) (*source.Snapshot, error) {
	if s.opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.opts.Timeout)
		defer cancel()
	}
	start := time.Now()
	l, err := s.client.list(ctx, s.url)
	if err != nil {
		return nil, s.classify(ctx, err)
	}
	defer l.close()
	t, err := resolve(s.opts.Ref, l.adv, s.url.String())
	if err != nil {
		return nil, errs.Input(err)
	}
	s.log.Debug("listed the remote's refs", "source", s.String(), "object", t.want.String(), "duration", time.Since(start).Round(time.Millisecond))

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last != nil && s.last.want == t.want {
		if _, err := os.Stat(s.last.snap.Root); err == nil {
			snap := s.last.snap
			return &snap, nil
		}
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return nil, fmt.Errorf("create the Git cache %s: %w", s.dir, err)
	}
	lock, err := lockFile(ctx, filepath.Join(s.dir, "lock"))
	if err != nil {
		return nil, s.classify(ctx, err)
	}
	defer lock.unlock()
	snap, err := s.take(ctx, l, t)
	if err != nil {
		return nil, s.classify(ctx, err)
	}
	s.last = &result{want: t.want, snap: *snap}
	s.log.Debug("snapshot ready", "source", s.String(), "revision", snap.Revision, "root", snap.Root, "duration", time.Since(start).Round(time.Millisecond))
	return snap, nil
}

// take returns the snapshot of t, from the cache or by fetching and
// writing it. The caller holds the store's lock.
func (s *Source) take(ctx context.Context, l *listing, t target) (*source.Snapshot, error) {
	st, err := openStore(s.dir, s.describe())
	if err != nil {
		return nil, err
	}
	defer func() { st.close() }()
	commit, tag, err := s.ensure(ctx, l, st, t)
	if err != nil {
		return nil, err
	}
	t.commit = commit.Hash
	if err := s.verify(t, commit, tag); err != nil {
		return nil, err
	}
	if err := st.setTip(commit.Hash); err != nil {
		return nil, fmt.Errorf("%w: %v", errStore, err)
	}
	name := commit.Hash.String()
	if s.path != "" {
		name += "-" + shortHash(s.path)
	}
	dir := filepath.Join(s.dir, "snapshots", name)
	if done, err := s.reuse(dir); err != nil || done {
		if err != nil {
			return nil, err
		}
	} else if err := s.write(ctx, st, commit, t, dir); err != nil {
		return nil, err
	}
	s.prune(dir)
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, err
	}
	return &source.Snapshot{Root: root, Revision: t.revision()}, nil
}

// ensure is objects, starting over once with an empty store when the
// store is damaged: a pack that does not parse, an object that cannot be
// read.
func (s *Source) ensure(ctx context.Context, l *listing, st *store, t target) (*object.Commit, *object.Tag, error) {
	commit, tag, err := s.objects(ctx, l, st, t)
	if !errors.Is(err, errStore) {
		return commit, tag, err
	}
	if err := s.refetch(ctx, st, t, err); err != nil {
		return nil, nil, err
	}
	return peel(st, t)
}

// objects makes sure the store holds t (fetching when it does not) and
// returns its commit, and its tag object for an annotated tag.
func (s *Source) objects(ctx context.Context, l *listing, st *store, t target) (*object.Commit, *object.Tag, error) {
	if !st.has(t.want) || t.annotated && !st.has(t.commit) {
		if n := st.packs(); n > maxPacks {
			s.log.Info("the Git cache holds many packs; fetching afresh", "source", s.String(), "packs", n)
			if err := st.reset(s.describe()); err != nil {
				return nil, nil, err
			}
		}
		if err := s.fetchInto(ctx, l, st, t); err != nil {
			return nil, nil, err
		}
	}
	return peel(st, t)
}

// refetch wipes a damaged store and fetches t into it afresh, saying so.
func (s *Source) refetch(ctx context.Context, st *store, t target, cause error) error {
	s.log.Warn("the Git cache failed to update; wiping it and fetching afresh", "source", s.String(), "dir", s.dir, "error", cause.Error())
	if err := st.reset(s.describe()); err != nil {
		return err
	}
	l, err := s.client.list(ctx, s.url)
	if err != nil {
		return err
	}
	defer l.close()
	return s.fetchInto(ctx, l, st, t)
}

func (s *Source) describe() string {
	return s.url.String() + " " + s.opts.Ref.String()
}

// reuse checks a snapshot written by an earlier run against this run's
// limits; done is false when there is none.
func (s *Source) reuse(dir string) (done bool, err error) {
	data, err := os.ReadFile(dir + ".json")
	if err != nil {
		return false, nil
	}
	if _, err := os.Stat(dir); err != nil {
		return false, nil
	}
	var st stats
	if err := json.Unmarshal(data, &st); err != nil {
		return false, nil
	}
	if st.Submodules > 0 && !s.opts.RecurseSubmodules {
		return false, &PathError{Path: s.path, Reason: "the tree holds submodules; pass --recurse-submodules to fetch them"}
	}
	if err := st.check(s.opts.Limits); err != nil {
		return false, err
	}
	now := time.Now()
	_ = os.Chtimes(dir, now, now) // the newest snapshots are kept
	return true, nil
}

// write writes the tree of commit (at --path) into dir, through a
// temporary directory so that dir appears complete or not at all.
func (s *Source) write(ctx context.Context, st *store, commit *object.Commit, t target, dir string) error {
	start := time.Now()
	tree, err := commit.Tree()
	if err != nil {
		return fmt.Errorf("read the tree of %s: %w", commit.Hash, err)
	}
	if s.path != "" {
		if tree, err = tree.Tree(s.path); err != nil {
			return errs.Inputf("--path %q is not a folder of %s at %s", s.path, s.url, t.revision())
		}
	}
	tmpRoot := filepath.Join(s.dir, "tmp")
	// Left by a process that died while writing; the lock is ours now.
	if old, _ := os.ReadDir(tmpRoot); len(old) > 0 {
		for _, e := range old {
			_ = os.RemoveAll(filepath.Join(tmpRoot, e.Name()))
		}
	}
	tmp, err := os.MkdirTemp(tmpRoot, "snapshot-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	var subs submoduleFunc
	var closers []func()
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	if s.opts.RecurseSubmodules {
		rootTree, err := commit.Tree()
		if err != nil {
			return err
		}
		subs, err = s.submodules(ctx, s.url, rootTree, 0, &closers)
		if err != nil {
			return err
		}
	}
	written, err := writeSnapshot(ctx, st.st, tree, s.path, filepath.Join(tmp, "root"), s.opts.Limits, subs, s.previous(st, dir))
	if err != nil {
		return err
	}
	data, _ := json.Marshal(written)
	if err := os.WriteFile(dir+".json", data, 0o600); err != nil {
		return err
	}
	_ = os.RemoveAll(dir) // a snapshot without its stats, left by a crash
	if err := os.Rename(filepath.Join(tmp, "root"), dir); err != nil {
		return err
	}
	s.log.Info("wrote snapshot", "source", s.String(), "revision", t.revision(), "files", written.Files,
		"bytes", written.Bytes, "duration", time.Since(start).Round(time.Millisecond))
	return nil
}

// previous finds the newest snapshot of this Source (same --path) other
// than dir whose commit the store still holds, for the writer to take
// unchanged files from; nil when there is none.
func (s *Source) previous(st *store, dir string) *previous {
	suffix := strings.TrimPrefix(filepath.Base(dir), filepath.Base(dir)[:40])
	entries, err := os.ReadDir(filepath.Dir(dir))
	if err != nil {
		return nil
	}
	var best string
	var bestTime time.Time
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || len(name) < 40 || name[40:] != suffix || name == filepath.Base(dir) || !isFullHash(name[:40]) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(dir), name+".json")); err != nil {
			continue
		}
		if best == "" || info.ModTime().After(bestTime) {
			best, bestTime = name, info.ModTime()
		}
	}
	if best == "" {
		return nil
	}
	c, err := object.GetCommit(st.st, plumbing.NewHash(best[:40]))
	if err != nil {
		return nil
	}
	tree, err := c.Tree()
	if err != nil {
		return nil
	}
	if s.path != "" {
		if tree, err = tree.Tree(s.path); err != nil {
			return nil
		}
	}
	return &previous{dir: filepath.Join(filepath.Dir(dir), best), tree: tree}
}

// prune deletes all but the newest KeepSnapshots snapshots; keep is never
// deleted.
func (s *Source) prune(keep string) {
	dir := filepath.Join(s.dir, "snapshots")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	type snap struct {
		path string
		mod  time.Time
	}
	var snaps []snap
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		snaps = append(snaps, snap{filepath.Join(dir, e.Name()), info.ModTime()})
	}
	sort.Slice(snaps, func(i, j int) bool { return snaps[i].mod.After(snaps[j].mod) })
	kept := 0
	for _, sn := range snaps {
		if sn.path == keep || kept < s.opts.KeepSnapshots-1 {
			if sn.path != keep {
				kept++
			}
			continue
		}
		s.log.Debug("deleting an old snapshot", "dir", sn.path)
		_ = os.Remove(sn.path + ".json")
		_ = os.RemoveAll(sn.path)
	}
}

// peel finds the commit t leads to, and the tag object for an annotated
// tag.
func peel(st *store, t target) (*object.Commit, *object.Tag, error) {
	obj, err := st.st.EncodedObject(plumbing.AnyObject, t.want)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: read %s: %v", errStore, t.want, err)
	}
	var outer *object.Tag
	for range 8 {
		switch obj.Type() {
		case plumbing.CommitObject:
			c, err := object.DecodeCommit(st.st, obj)
			if err != nil {
				return nil, nil, fmt.Errorf("%w: decode commit %s: %v", errStore, obj.Hash(), err)
			}
			return c, outer, nil
		case plumbing.TagObject:
			tag, err := object.DecodeTag(st.st, obj)
			if err != nil {
				return nil, nil, fmt.Errorf("%w: decode tag %s: %v", errStore, obj.Hash(), err)
			}
			if outer == nil {
				outer = tag
			}
			if obj, err = st.st.EncodedObject(plumbing.AnyObject, tag.Target); err != nil {
				return nil, nil, fmt.Errorf("%w: read %s, the target of tag %s: %v", errStore, tag.Target, tag.Name, err)
			}
		default:
			what := "commit " + t.want.String()
			if t.name != "" {
				what = t.name
			}
			return nil, nil, errs.Inputf("%s names a %s, not a commit", what, obj.Type())
		}
	}
	return nil, nil, errs.Inputf("tag %s is nested too deeply", t.name)
}

// verify checks the signature --verify-signatures asks for: the tag's for
// --tag and --semver, the commit's otherwise.
func (s *Source) verify(t target, commit *object.Commit, tag *object.Tag) error {
	k := s.opts.Keys
	if k == nil {
		return nil
	}
	if s.opts.Ref.Tag != "" || s.opts.Ref.Semver != "" {
		if tag == nil {
			return &SignatureError{Object: "tag " + t.name, Reason: "a lightweight tag, which carries no signature; --verify-signatures needs a signed annotated tag"}
		}
		return k.verifyTag(tag)
	}
	return k.verifyCommit(commit)
}

// fetchInto fetches t: shallow into an empty store, otherwise the new
// commits only, which is much faster (a shallow fetch resends the whole
// tree).
func (s *Source) fetchInto(ctx context.Context, l *listing, st *store, t target) error {
	start := time.Now()
	var haves []plumbing.Hash
	depth := 1
	tip, ok, err := st.tip()
	if err != nil {
		return err
	}
	if ok {
		haves, depth = []plumbing.Hash{tip}, 0
	}
	wants := []plumbing.Hash{t.want}
	byBranches := false
	if t.name == "" && !l.advertises(t.want) && !l.supports("allow-reachable-sha1-in-want") {
		// The server lets a client fetch only what it advertises: fetch
		// every branch with its history and look for the commit there.
		wants, depth, byBranches = nil, 0, true
		for name, h := range l.adv.refs {
			if strings.HasPrefix(name, "refs/heads/") && !st.has(h) {
				wants = append(wants, h)
			}
		}
	}
	mode := "new commits"
	if depth > 0 {
		mode = "shallow, first fetch"
	}
	s.log.Info("fetching", "source", s.String(), "object", t.want.String(), "mode", mode)
	if len(wants) > 0 {
		err := l.fetch(ctx, st, wants, haves, depth)
		if err != nil && t.name == "" && strings.Contains(err.Error(), "not our ref") {
			return &NotFoundError{What: "commit " + t.want.String(), URL: s.url.String()}
		}
		if err != nil {
			return err
		}
	}
	if !st.has(t.want) && depth == 0 && !byBranches {
		// The server took the store's tip for a full history and sent
		// nothing: the ref moved back behind the store's first, shallow
		// fetch. Fetch it shallow.
		l2, err := s.client.list(ctx, s.url)
		if err != nil {
			return err
		}
		defer l2.close()
		if err := l2.fetch(ctx, st, []plumbing.Hash{t.want}, haves, 1); err != nil {
			return err
		}
	}
	if !st.has(t.want) {
		if byBranches {
			return &NotFoundError{What: "commit " + t.want.String(), URL: s.url.String() + " (searched every branch; the server does not let a client fetch other commits)"}
		}
		return fmt.Errorf("%w: %s is missing after the fetch", errStore, t.want)
	}
	s.log.Info("fetched", "source", s.String(), "object", t.want.String(), "duration", time.Since(start).Round(time.Millisecond))
	return nil
}

func shortHash(s string) string {
	h := plumbing.ComputeHash(plumbing.BlobObject, []byte(s))
	return h.String()[:12]
}
