package source

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// diskHash is TreeHash of the file or directory p on disk.
func diskHash(p string) (string, bool) {
	st, err := os.Lstat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "missing", true
	case err != nil:
		return "", false
	case st.Mode().IsRegular():
		h, err := blobHash(p, st, make([]byte, 64<<10))
		if err != nil {
			return "", false
		}
		return fmt.Sprintf("blob %s %s", gitMode(st), h), true
	case st.IsDir():
		raw, ok := treeHash(p)
		if !ok {
			return "", false
		}
		return "tree " + hex.EncodeToString(raw), true
	}
	return "", false
}

func gitMode(st fs.FileInfo) string {
	if st.Mode()&0o111 != 0 {
		return "100755"
	}
	return "100644"
}

// treeHash is the name git write-tree gives directory p: entries sorted as
// Git sorts them (a directory as its name with a slash), empty
// directories left out; nil for an empty one. ok is false for a symlink
// or anything but files and directories inside.
func treeHash(dir string) ([]byte, bool) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, false
	}
	type entry struct {
		mode, name string
		hash       []byte
	}
	var list []entry
	buf := make([]byte, 64<<10)
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		st, err := os.Lstat(p)
		if err != nil {
			return nil, false
		}
		switch {
		case st.IsDir():
			h, ok := treeHash(p)
			if !ok {
				return nil, false
			}
			if h != nil {
				list = append(list, entry{"40000", e.Name(), h})
			}
		case st.Mode().IsRegular():
			h, err := blobHash(p, st, buf)
			if err != nil {
				return nil, false
			}
			list = append(list, entry{gitMode(st), e.Name(), h[:]})
		default:
			return nil, false
		}
	}
	if len(list) == 0 {
		return nil, true
	}
	key := func(e entry) string {
		if e.mode == "40000" {
			return e.name + "/"
		}
		return e.name
	}
	slices.SortFunc(list, func(a, b entry) int { return strings.Compare(key(a), key(b)) })
	var body bytes.Buffer
	for _, e := range list {
		fmt.Fprintf(&body, "%s %s\x00", e.mode, e.name)
		body.Write(e.hash)
	}
	h := sha1.New()
	fmt.Fprintf(h, "tree %d\x00", body.Len())
	h.Write(body.Bytes())
	return h.Sum(nil), true
}
