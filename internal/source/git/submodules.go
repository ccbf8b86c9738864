package git

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// maxSubmoduleDepth bounds submodules of submodules.
const maxSubmoduleDepth = 4

// submodules returns the submoduleFunc of the repository at u whose root
// tree is root: it looks each gitlink up in root's .gitmodules, fetches its
// commit into a store of its own (locked while the snapshot is written;
// closers release it) and returns its tree. Credentials go only to the
// host they were given for; another host is asked without them.
func (s *Source) submodules(ctx context.Context, u *URL, root *object.Tree, depth int, closers *[]func()) (submoduleFunc, error) {
	if depth >= maxSubmoduleDepth {
		return nil, fmt.Errorf("submodules nest more than %d deep", maxSubmoduleDepth)
	}
	modules := config.NewModules()
	if f, err := root.File(".gitmodules"); err == nil {
		r, err := f.Reader()
		if err != nil {
			return nil, fmt.Errorf("read .gitmodules: %w", err)
		}
		data, err := io.ReadAll(io.LimitReader(r, 1<<20))
		r.Close()
		if err != nil {
			return nil, fmt.Errorf("read .gitmodules: %w", err)
		}
		if err := modules.Unmarshal(data); err != nil {
			return nil, &PathError{Path: ".gitmodules", Reason: fmt.Sprintf("it does not parse: %v", err)}
		}
	}
	return func(ctx context.Context, p string, commit plumbing.Hash) (storer.EncodedObjectStorer, *object.Tree, submoduleFunc, error) {
		var mod *config.Submodule
		for _, m := range modules.Submodules {
			if m.Path == p {
				mod = m
			}
		}
		if mod == nil {
			return nil, nil, nil, &PathError{Path: p, Reason: "a submodule that .gitmodules does not list"}
		}
		if err := mod.Validate(); err != nil {
			return nil, nil, nil, &PathError{Path: ".gitmodules", Reason: err.Error()}
		}
		subURL, err := u.resolveRelative(mod.URL)
		if err != nil {
			return nil, nil, nil, &PathError{Path: ".gitmodules", Reason: fmt.Sprintf("submodule %s: %v", mod.Name, err)}
		}
		st, err := s.fetchSubmodule(ctx, subURL, commit, closers)
		if err != nil {
			return nil, nil, nil, err
		}
		c, err := object.GetCommit(st.st, commit)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("read commit %s of %s: %w", commit, subURL, err)
		}
		tree, err := c.Tree()
		if err != nil {
			return nil, nil, nil, fmt.Errorf("read the tree of %s in %s: %w", commit, subURL, err)
		}
		nested, err := s.submodules(ctx, subURL, tree, depth+1, closers)
		if err != nil {
			return nil, nil, nil, err
		}
		return st.st, tree, nested, nil
	}, nil
}

// fetchSubmodule brings commit of the repository at u into its store.
func (s *Source) fetchSubmodule(ctx context.Context, u *URL, commit plumbing.Hash, closers *[]func()) (*store, error) {
	auth := Auth{CAFile: s.opts.Auth.CAFile, KnownHostsFile: s.opts.Auth.KnownHostsFile}
	if u.Scheme == s.url.Scheme && u.Host == s.url.Host && u.Port == s.url.Port {
		auth = s.opts.Auth
	}
	if u.Scheme == SchemeHTTP {
		auth = Auth{}
	}
	if u.Scheme == SchemeSSH {
		auth.SSHKeyFile, auth.SSHKeyPassphrase = s.opts.Auth.SSHKeyFile, s.opts.Auth.SSHKeyPassphrase
		auth.Username, auth.Password, auth.CAFile = "", "", ""
	}
	c, err := newClient(u, auth, s.opts.AllowFile)
	if err != nil {
		return nil, fmt.Errorf("submodule %s: %w", u, err)
	}
	sub := &Source{opts: s.opts, url: u, client: c, log: s.log, dir: storeDir(s.opts.CacheDir, u, Ref{Commit: commit.String()})}
	sub.opts.Auth = auth
	if err := mkdirAll(sub.dir); err != nil {
		return nil, err
	}
	lock, err := lockFile(ctx, filepath.Join(sub.dir, "lock"))
	if err != nil {
		return nil, err
	}
	st, err := openStore(sub.dir, u.String()+" commit "+commit.String())
	if err != nil {
		lock.unlock()
		return nil, err
	}
	*closers = append(*closers, func() { st.close(); lock.unlock() })
	if st.has(commit) {
		return st, nil
	}
	l, err := c.list(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("submodule %s: %w", u, sub.classify(ctx, err))
	}
	defer l.close()
	if _, _, err := sub.ensure(ctx, l, st, target{want: commit, commit: commit}); err != nil {
		var nf *NotFoundError
		if errors.As(err, &nf) {
			return nil, err
		}
		return nil, fmt.Errorf("submodule %s: %w", u, sub.classify(ctx, err))
	}
	return st, nil
}
