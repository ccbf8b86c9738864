package inventory

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"time"
)

// DefaultShardSize is the most compressed bytes one ConfigMap holds. The API
// server refuses a ConfigMap whose data exceeds 1 MiB; the rest is headroom
// for metadata.
const DefaultShardSize = 900 << 10

// maxDecoded bounds the decompressed size of an inventory, so that a
// corrupt or hostile ConfigMap cannot exhaust memory.
const maxDecoded = 1 << 30

// encode returns inv as gzip-compressed JSON, entries sorted, so that the
// same inventory always gives the same bytes.
func encode(inv *Inventory) ([]byte, error) {
	c := *inv
	c.Entries = slices.Clone(inv.Entries)
	c.Sort()
	if c.Entries == nil {
		c.Entries = []Entry{}
	}
	raw, err := json.Marshal(&c)
	if err != nil {
		return nil, fmt.Errorf("encode inventory: %w", err)
	}
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(raw); err != nil {
		return nil, fmt.Errorf("compress inventory: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compress inventory: %w", err)
	}
	return buf.Bytes(), nil
}

// decode is the inverse of encode.
func decode(blob []byte) (*Inventory, error) {
	zr, err := gzip.NewReader(bytes.NewReader(blob))
	if err != nil {
		return nil, fmt.Errorf("decompress: %w", err)
	}
	raw, err := io.ReadAll(io.LimitReader(zr, maxDecoded+1))
	if err != nil {
		return nil, fmt.Errorf("decompress: %w", err)
	}
	if len(raw) > maxDecoded {
		return nil, fmt.Errorf("decompressed inventory larger than %d bytes", maxDecoded)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var inv Inventory
	if err := dec.Decode(&inv); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	return &inv, nil
}

// sameContent reports whether a and b differ at most in AppliedAt: a
// reconcile that changed nothing must not rewrite the inventory just to
// move the time.
func sameContent(a, b *Inventory) bool {
	ca, cb := *a, *b
	ca.AppliedAt, cb.AppliedAt = time.Time{}, time.Time{}
	ea, err1 := encode(&ca)
	eb, err2 := encode(&cb)
	return err1 == nil && err2 == nil && bytes.Equal(ea, eb)
}

// split cuts blob into shards of at most size bytes; an empty blob still
// gives one shard, so that an empty inventory is stored and told apart from
// none.
func split(blob []byte, size int) [][]byte {
	if size <= 0 {
		size = DefaultShardSize
	}
	var shards [][]byte
	for len(blob) > size {
		shards = append(shards, blob[:size])
		blob = blob[size:]
	}
	return append(shards, blob)
}

// digest is the content hash written on every shard; it ties the shards of
// one Save together so that a Load never mixes two versions.
func digest(blob []byte) string {
	sum := sha256.Sum256(blob)
	return hex.EncodeToString(sum[:])
}
