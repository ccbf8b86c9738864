package source

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/envctl/envctl/internal/errs"
)

// Local returns a snapshot of the directory dir. Its revision is
// "sha1:<HEAD>" when dir is tracked in a Git work tree ("-dirty" appended
// when a tracked file under dir differs from HEAD), and otherwise
// "sha256:<hex>", a hash of every file under dir.
func Local(dir string) (*Snapshot, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", dir, err)
	}
	root, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, errs.Input(fmt.Errorf("source %s: %w", dir, err))
	}
	st, err := os.Stat(root)
	if err != nil {
		return nil, errs.Input(fmt.Errorf("source %s: %w", dir, err))
	}
	if !st.IsDir() {
		return nil, errs.Inputf("source %s: not a directory", dir)
	}
	rev, err := workTreeRevision(root)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", dir, err)
	}
	if rev == "" {
		if rev, err = ContentRevision(root); err != nil {
			return nil, fmt.Errorf("source %s: %w", dir, err)
		}
	}
	return &Snapshot{Root: root, Revision: rev}, nil
}

// ContentRevision hashes every file, symlink and directory under root
// (names, kinds, executable bits, link targets and contents, in lexical
// order) into "sha256:<hex>": the revision of a directory that Git does not
// track, which changes exactly when what a render can read changes.
func ContentRevision(root string) (string, error) {
	h := sha256.New()
	buf := make([]byte, 64<<10)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		switch t := d.Type(); {
		case t.IsDir():
			record(h, "d", rel, "")
		case t&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			record(h, "l", rel, target)
		case t.IsRegular():
			info, err := d.Info()
			if err != nil {
				return err
			}
			kind := "f"
			if info.Mode()&0o111 != 0 {
				kind = "x"
			}
			record(h, kind, rel, strconv.FormatInt(info.Size(), 10))
			if err := hashFile(h, p, buf); err != nil {
				return err
			}
		default:
			// Sockets, pipes and devices hold nothing a render reads.
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("hash the directory's content: %w", err)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// record writes one entry's header; the NUL separators keep two different
// listings from hashing the same bytes.
func record(h hash.Hash, kind, rel, extra string) {
	io.WriteString(h, kind)
	h.Write([]byte{0})
	io.WriteString(h, rel)
	h.Write([]byte{0})
	io.WriteString(h, extra)
	h.Write([]byte{0})
}

func hashFile(h hash.Hash, p string, buf []byte) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := io.CopyBuffer(h, f, buf); err != nil {
		return err
	}
	return nil
}

// errNotTracked says that a directory is not inside a Git work tree, or
// that HEAD does not track it, so that its revision is its content's hash.
var errNotTracked = errors.New("not tracked by Git")
