package git

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/sideband"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// listing is one conversation with the remote: the refs it advertised and
// the session that can then fetch once. Fetching over the session that
// listed saves a connection (and for HTTP a request) on every change.
type listing struct {
	sess transport.UploadPackSession
	ar   *packp.AdvRefs
	adv  advertised
	used bool
}

// list connects and reads the remote's refs: the whole of an unchanged
// check.
func (c *client) list(ctx context.Context, u *URL) (*listing, error) {
	sess, err := c.transport.NewUploadPackSession(u.endpoint(), c.auth)
	if err != nil {
		return nil, err
	}
	ar, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil {
		_ = sess.Close()
		return nil, err
	}
	l := &listing{sess: sess, ar: ar, adv: advertised{refs: ar.References, peeled: ar.Peeled, head: ar.Head}}
	for _, sym := range ar.Capabilities.Get(capability.SymRef) {
		if from, to, ok := strings.Cut(sym, ":"); ok && from == "HEAD" {
			l.adv.headTarget = to
		}
	}
	return l, nil
}

func (l *listing) close() {
	_ = l.sess.Close()
}

// supports reports whether the server advertised a capability.
func (l *listing) supports(c capability.Capability) bool {
	return l.ar.Capabilities.Supports(c)
}

// advertises reports whether h is a ref (or a peeled tag) of the listing,
// which every server lets a client fetch.
func (l *listing) advertises(h plumbing.Hash) bool {
	for _, v := range l.adv.refs {
		if v == h {
			return true
		}
	}
	for _, v := range l.adv.peeled {
		if v == h {
			return true
		}
	}
	return l.adv.head != nil && *l.adv.head == h
}

// fetch asks for wants, telling the server that the store holds haves (and
// their history), and writes the pack it sends into the store. depth > 0
// makes a shallow fetch, which also sends the store's shallow commits so
// that the server does not count on history the store lacks. Errors while
// storing the pack wrap errStore.
func (l *listing) fetch(ctx context.Context, st *store, wants, haves []plumbing.Hash, depth int) error {
	if l.used {
		return errors.New("internal error: a listing fetches once")
	}
	l.used = true
	req := packp.NewUploadPackRequestFromCapabilities(l.ar.Capabilities)
	req.Wants = wants
	req.Haves = haves
	if l.supports(capability.NoProgress) {
		_ = req.Capabilities.Set(capability.NoProgress)
	}
	if depth > 0 && l.supports(capability.Shallow) {
		if err := req.Capabilities.Set(capability.Shallow); err != nil {
			return err
		}
		req.Depth = packp.DepthCommits(depth)
		shallows, err := st.st.Shallow()
		if err != nil {
			return fmt.Errorf("%w: read its shallow list: %v", errStore, err)
		}
		req.Shallows = shallows
	}
	resp, err := l.sess.UploadPack(ctx, req)
	if errors.Is(err, transport.ErrEmptyUploadPackRequest) {
		return nil
	}
	if err != nil {
		return err
	}
	defer resp.Close()
	if !req.Depth.IsZero() {
		if err := updateShallow(st, resp.Shallows, resp.Unshallows); err != nil {
			return err
		}
	}
	var pack io.Reader = resp
	switch {
	case req.Capabilities.Supports(capability.Sideband64k):
		pack = sideband.NewDemuxer(sideband.Sideband64k, resp)
	case req.Capabilities.Supports(capability.Sideband):
		pack = sideband.NewDemuxer(sideband.Sideband, resp)
	}
	if err := packfile.UpdateObjectStorage(st.st, pack); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, packfile.ErrEmptyPackfile) {
			return nil
		}
		return fmt.Errorf("%w: store the fetched pack: %v", errStore, err)
	}
	return nil
}

// updateShallow records the commits the fetch left without parents.
func updateShallow(st *store, add, remove []plumbing.Hash) error {
	if len(add) == 0 && len(remove) == 0 {
		return nil
	}
	cur, err := st.st.Shallow()
	if err != nil {
		return fmt.Errorf("%w: read its shallow list: %v", errStore, err)
	}
	next := make([]plumbing.Hash, 0, len(cur)+len(add))
	for _, h := range cur {
		if !slices.Contains(remove, h) {
			next = append(next, h)
		}
	}
	for _, h := range add {
		if !slices.Contains(next, h) {
			next = append(next, h)
		}
	}
	if err := st.st.SetShallow(next); err != nil {
		return fmt.Errorf("%w: write its shallow list: %v", errStore, err)
	}
	return nil
}
