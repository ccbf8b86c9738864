package render

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	sopsage "github.com/getsops/sops/v3/age"
	"github.com/getsops/sops/v3/shamir"
	"gopkg.in/yaml.v3"
)

// errBadValue says an encrypted value does not open with the data key.
var errBadValue = errors.New("a value does not decrypt")

// macOnlyEncryptedInit starts the MAC of a file with mac_only_encrypted,
// so that it differs from the MAC over every value (sops' constant).
var macOnlyEncryptedInit = []byte{0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b, 0x0b, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69}

// sopsValue is one ENC[AES256_GCM,data:...,iv:...,tag:...,type:...] value.
type sopsValue struct {
	data, iv, tag []byte
	typ           string
}

// parseSOPSValue reads an encrypted value; its errors never quote it.
func parseSOPSValue(s string) (*sopsValue, error) {
	body, ok := strings.CutPrefix(s, "ENC[AES256_GCM,")
	if !ok || !strings.HasSuffix(body, "]") {
		return nil, errors.New("not an ENC[AES256_GCM,...] value")
	}
	body = body[:len(body)-1]
	v := &sopsValue{}
	for i, field := range []string{"data", "iv", "tag", "type"} {
		var part string
		if i < 3 {
			var ok bool
			part, body, ok = strings.Cut(body, ",")
			if !ok {
				return nil, errors.New("an encrypted value lacks a field")
			}
		} else {
			part = body
		}
		val, ok := strings.CutPrefix(part, field+":")
		if !ok {
			return nil, fmt.Errorf("an encrypted value lacks its %s", field)
		}
		if field == "type" {
			v.typ = val
			break
		}
		b, err := base64.StdEncoding.DecodeString(val)
		if err != nil {
			return nil, fmt.Errorf("an encrypted value's %s is not base64", field)
		}
		switch field {
		case "data":
			v.data = b
		case "iv":
			v.iv = b
		case "tag":
			v.tag = b
		}
	}
	if len(v.iv) == 0 || len(v.tag) != 16 {
		return nil, errors.New("an encrypted value has a bad iv or tag")
	}
	return v, nil
}

// open decrypts the value with the data key; ad is the value's path
// (keys joined by ":", ending in ":"), which the tag authenticates.
func (v *sopsValue) open(key []byte, ad string) ([]byte, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCMWithNonceSize(block, len(v.iv))
	if err != nil {
		return nil, err
	}
	return gcm.Open(nil, v.iv, append(slices.Clip(v.data), v.tag...), []byte(ad))
}

// decryptScalar opens an encrypted string; an empty string stays empty, as
// sops never encrypts it.
func decryptScalar(s string, key []byte, ad string) (plain []byte, typ string, err error) {
	if s == "" {
		return nil, "str", nil
	}
	v, err := parseSOPSValue(s)
	if err != nil {
		return nil, "", err
	}
	plain, err = v.open(key, ad)
	if err != nil {
		return nil, "", errBadValue
	}
	return plain, v.typ, nil
}

// decrypt opens every encrypted value of the documents in place, and
// returns the MAC of the values (as sops computes it: SHA-512 over each
// value in file order, upper-case hex) and the decrypted values.
func (d *sopsDoc) decrypt(key []byte) (mac string, secrets []string, err error) {
	w := &sopsWalk{meta: &d.meta, key: key, hash: sha512.New()}
	for _, re := range []struct {
		expr string
		out  **regexp.Regexp
	}{{d.meta.EncryptedRegex, &w.encRe}, {d.meta.UnencryptedRegex, &w.unencRe}} {
		if re.expr == "" {
			continue
		}
		if *re.out, err = regexp.Compile(re.expr); err != nil {
			return "", nil, errors.New("a bad regular expression in the sops metadata")
		}
	}
	if d.meta.MACOnlyEncrypted {
		w.hash.Write(macOnlyEncryptedInit)
	}
	for _, doc := range d.docs {
		if err := w.value(doc, nil, 0); err != nil {
			return "", nil, err
		}
	}
	return fmt.Sprintf("%X", w.hash.Sum(nil)), w.secrets, nil
}

// storedMAC opens the file's MAC, bound to its lastmodified time.
func (d *sopsDoc) storedMAC(key []byte) (string, error) {
	t, err := time.Parse(time.RFC3339, d.meta.LastModified)
	if err != nil {
		return "", err
	}
	plain, _, err := decryptScalar(d.meta.MAC, key, t.Format(time.RFC3339))
	return string(plain), err
}

type sopsWalk struct {
	meta           *sopsMetadata
	key            []byte
	hash           hash.Hash
	encRe, unencRe *regexp.Regexp
	secrets        []string
	nodes          int
}

// maxSOPSNodes bounds the values of one file, which yaml.v3 would let an
// attacker multiply with anchors.
const maxSOPSNodes = 1 << 20

// encrypted says whether sops encrypts the values at path, by the
// metadata's suffix and regex rules, in sops' order.
func (w *sopsWalk) encrypted(path []string) bool {
	enc := true
	if s := w.meta.UnencryptedSuffix; s != "" && slices.ContainsFunc(path, func(p string) bool { return strings.HasSuffix(p, s) }) {
		enc = false
	}
	if s := w.meta.EncryptedSuffix; s != "" {
		enc = slices.ContainsFunc(path, func(p string) bool { return strings.HasSuffix(p, s) })
	}
	if w.unencRe != nil && slices.ContainsFunc(path, w.unencRe.MatchString) {
		enc = false
	}
	if w.encRe != nil {
		enc = slices.ContainsFunc(path, w.encRe.MatchString)
	}
	return enc
}

func (w *sopsWalk) value(n *yaml.Node, path []string, depth int) error {
	if depth > 1000 {
		return errors.New("nested too deeply")
	}
	if w.nodes++; w.nodes > maxSOPSNodes {
		return errors.New("too many values")
	}
	n.HeadComment, n.LineComment, n.FootComment = "", "", ""
	switch n.Kind {
	case yaml.AliasNode:
		// sops writes every value out in full, never an alias.
		return errors.New("a YAML alias, which sops never writes")
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			k.HeadComment, k.LineComment, k.FootComment = "", "", ""
			if k.Kind != yaml.ScalarNode {
				return errors.New("a mapping key is not a string")
			}
			if err := w.value(n.Content[i+1], append(slices.Clip(path), k.Value), depth+1); err != nil {
				return err
			}
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			if err := w.value(c, path, depth+1); err != nil {
				return err
			}
		}
	case yaml.ScalarNode:
		return w.scalar(n, path)
	default:
		return errors.New("an unexpected node")
	}
	return nil
}

// scalar decrypts one leaf in place (when its path is encrypted) and adds
// it to the MAC as sops writes values to bytes.
func (w *sopsWalk) scalar(n *yaml.Node, path []string) error {
	var v any
	if err := n.Decode(&v); err != nil {
		return err
	}
	if v == nil {
		return nil
	}
	enc := w.encrypted(path)
	if enc {
		s, ok := v.(string)
		if !ok {
			return errors.New("a value that should be encrypted is not a string")
		}
		ad := strings.Join(path, ":") + ":"
		plain, typ, err := decryptScalar(s, w.key, ad)
		if err != nil {
			return err
		}
		if s == "" {
			v = ""
		} else if v, err = setScalar(n, plain, typ); err != nil {
			return err
		}
		if str := fmt.Sprint(v); s != "" && str != "" && !slices.Contains(w.secrets, str) {
			w.secrets = append(w.secrets, str)
		}
	}
	if w.meta.MACOnlyEncrypted && !enc {
		return nil
	}
	b, err := macBytes(v)
	if err != nil {
		return err
	}
	w.hash.Write(b)
	return nil
}

// setScalar sets a node to a decrypted value of the given sops type and
// returns the value.
func setScalar(n *yaml.Node, plain []byte, typ string) (any, error) {
	s := string(plain)
	n.Style = 0
	n.Value = s
	switch typ {
	case "str", "bytes":
		n.Tag = "!!str"
		return s, nil
	case "int":
		i, err := strconv.Atoi(s)
		if err != nil {
			return nil, errors.New("an int value does not parse")
		}
		n.Tag, n.Value = "!!int", strconv.Itoa(i)
		return i, nil
	case "float":
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, errors.New("a float value does not parse")
		}
		n.Tag, n.Value = "!!float", formatFloat(f)
		return f, nil
	case "bool":
		b, err := strconv.ParseBool(s)
		if err != nil {
			return nil, errors.New("a bool value does not parse")
		}
		n.Tag, n.Value = "!!bool", strconv.FormatBool(b)
		return b, nil
	case "time":
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil, errors.New("a time value does not parse")
		}
		n.Tag = "!!timestamp"
		return t, nil
	}
	return nil, errors.New("an encrypted value of an unknown type")
}

// macBytes is a value as the MAC reads it.
func macBytes(v any) ([]byte, error) {
	switch t := v.(type) {
	case string:
		return []byte(t), nil
	case int:
		return []byte(strconv.Itoa(t)), nil
	case float64:
		return []byte(strconv.FormatFloat(t, 'f', -1, 64)), nil
	case bool:
		if t {
			return []byte("True"), nil
		}
		return []byte("False"), nil
	case time.Time:
		return t.MarshalText()
	}
	return nil, fmt.Errorf("a value of type %T", v)
}

// dataKey opens the file's data key: in each key group, with the first
// age identity or OpenPGP key of the keyring that opens its share, else an
// age identity where sops finds one, else the first key service that opens
// one of the group's keys; with several groups, the shares are combined
// (Shamir's secret sharing).
func (k *keyring) dataKey(m *sopsMetadata) ([]byte, error) {
	groups := m.groups()
	var parts [][]byte
	for _, g := range groups {
		if part, err := k.openGroup(g); err == nil {
			parts = append(parts, part)
		}
	}
	if len(groups) == 1 {
		if len(parts) != 1 {
			return nil, errors.New("no key opens the file")
		}
		return parts[0], nil
	}
	if len(parts) == 0 || len(parts) < m.ShamirThreshold {
		return nil, errors.New("too few key groups open")
	}
	return shamir.Combine(parts)
}

func (k *keyring) openGroup(g sopsKeyGroup) ([]byte, error) {
	for _, a := range g.Age {
		if len(k.age) == 0 {
			break
		}
		mk := &sopsage.MasterKey{Recipient: a.Recipient, EncryptedKey: a.Enc}
		k.age.ApplyToMasterKey(mk)
		if key, err := mk.Decrypt(); err == nil {
			return key, nil
		}
	}
	for _, p := range g.PGP {
		if len(k.pgp) == 0 {
			break
		}
		block, err := armor.Decode(bytes.NewReader([]byte(p.Enc)))
		if err != nil {
			continue
		}
		md, err := openpgp.ReadMessage(block.Body, k.pgp, nil, nil)
		if err != nil {
			continue
		}
		if key, err := io.ReadAll(md.UnverifiedBody); err == nil {
			return key, nil
		}
	}
	for _, a := range g.Age {
		if key, err := k.sops.Decrypt(a.Recipient, a.Enc); err == nil {
			return key, nil
		}
	}
	return k.askServices(g)
}

// keyServiceTimeout bounds one request to a key service.
const keyServiceTimeout = 30 * time.Second

// askServices asks each key service about each key of the group, key by
// key as sops does, until one opens its share.
func (k *keyring) askServices(g sopsKeyGroup) ([]byte, error) {
	for _, mk := range g.serviceKeys() {
		for _, s := range k.services {
			ctx, cancel := context.WithTimeout(k.ctx, keyServiceTimeout)
			key, err := s.Decrypt(ctx, mk.key, []byte(mk.enc))
			cancel()
			if err == nil {
				return key, nil
			}
			k.mu.Lock()
			if k.serviceErr == nil {
				k.serviceErr = map[string]error{}
			}
			k.serviceErr[s.Addr] = fmt.Errorf("%v (asked about %s)", err, mk.key)
			k.mu.Unlock()
		}
	}
	return nil, errors.New("no key of the group opens it")
}
