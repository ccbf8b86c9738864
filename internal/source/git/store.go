package git

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// tipRef is the reference a store keeps on the last object it fetched:
// what the next fetch tells the server it already has.
const tipRef = plumbing.ReferenceName("refs/envctl/tip")

// maxPacks is how many packfiles a store collects (one per fetch) before
// it is fetched afresh: object lookups go through every pack's index, and a
// shallow re-fetch is cheaper than repacking.
const maxPacks = 32

// store is the on-disk cache of one (URL, ref): an object store filled by
// fetches, and the snapshots written from it. Its layout:
//
//	DIR/lock          flock(2) held while the store is used
//	DIR/source        the URL and ref, for a person reading the cache
//	DIR/objects/...   a bare Git object store (objects, refs, shallow)
//	DIR/snapshots/    one directory per written commit (and --path)
//	DIR/tmp/          snapshots being written
type store struct {
	dir string
	st  *filesystem.Storage
}

// storeDir is where the store of (u, ref) lives under cacheDir.
func storeDir(cacheDir string, u *URL, ref Ref) string {
	sum := sha256.Sum256([]byte(u.key() + "\n" + ref.key()))
	name := strings.Trim(sanitize(u.Host+"-"+filepath.Base(u.Path)), "-.")
	if len(name) > 40 {
		name = name[:40]
	}
	return filepath.Join(cacheDir, name+"-"+hex.EncodeToString(sum[:8]))
}

// sanitize keeps the characters a directory name can always hold.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_' {
			return r
		}
		return '-'
	}, s)
}

// openStore opens (creating when missing) the object store in dir. The
// caller holds the store's lock.
func openStore(dir string, describe string) (*store, error) {
	objects := filepath.Join(dir, "objects")
	for _, d := range []string{objects, filepath.Join(dir, "snapshots"), filepath.Join(dir, "tmp")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("create the Git cache %s: %w", d, err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "source"), []byte(describe+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write the Git cache %s: %w", dir, err)
	}
	// Not ExclusiveAccess: with it go-git v5.19.3's HasEncodedObject
	// misses every packed object.
	st := filesystem.NewStorageWithOptions(osfs.New(objects), cache.NewObjectLRUDefault(), filesystem.Options{
		// Writing a snapshot reads thousands of objects; reopening the
		// pack for each would cost more than the reads.
		KeepDescriptors: true,
		// Larger blobs are streamed to the snapshot, not held in memory.
		LargeObjectThreshold: 1 << 20,
	})
	return &store{dir: dir, st: st}, nil
}

func (s *store) close() {
	if s.st != nil {
		_ = s.st.Close()
	}
}

// reset deletes the object store (not the snapshots) and reopens it empty.
func (s *store) reset(describe string) error {
	s.close()
	if err := os.RemoveAll(filepath.Join(s.dir, "objects")); err != nil {
		return fmt.Errorf("wipe the Git cache %s: %w", s.dir, err)
	}
	fresh, err := openStore(s.dir, describe)
	if err != nil {
		return err
	}
	*s = *fresh
	return nil
}

// has reports whether the object is in the store.
func (s *store) has(h plumbing.Hash) bool {
	return s.st.HasEncodedObject(h) == nil
}

// tip is the commit the last fetch stored, if any. A tip the store cannot
// read means the store is damaged: an error wrapping errStore.
func (s *store) tip() (plumbing.Hash, bool, error) {
	ref, err := s.st.Reference(tipRef)
	if err != nil || ref.Type() != plumbing.HashReference {
		return plumbing.ZeroHash, false, nil
	}
	if _, err := s.st.EncodedObject(plumbing.CommitObject, ref.Hash()); err != nil {
		return plumbing.ZeroHash, false, fmt.Errorf("%w: its last fetched commit %s cannot be read: %v", errStore, ref.Hash(), err)
	}
	return ref.Hash(), true, nil
}

func (s *store) setTip(h plumbing.Hash) error {
	return s.st.SetReference(plumbing.NewHashReference(tipRef, h))
}

// packs counts the store's packfiles.
func (s *store) packs() int {
	m, _ := filepath.Glob(filepath.Join(s.dir, "objects", "objects", "pack", "*.pack"))
	return len(m)
}

// errStore marks a failure of the local store (a pack that does not parse,
// an object missing after a fetch), after which the store is wiped and
// fetched afresh once.
var errStore = errors.New("the Git cache is unusable")

func mkdirAll(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create the Git cache %s: %w", dir, err)
	}
	return nil
}
