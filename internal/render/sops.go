package render

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/getsops/sops/v3"
	"github.com/getsops/sops/v3/aes"
	sopsage "github.com/getsops/sops/v3/age"
	sopsconfig "github.com/getsops/sops/v3/config"
	"github.com/getsops/sops/v3/keyservice"
	"github.com/getsops/sops/v3/logging"
	"github.com/getsops/sops/v3/stores/dotenv"
	sopsjson "github.com/getsops/sops/v3/stores/json"
	sopsyaml "github.com/getsops/sops/v3/stores/yaml"
	"google.golang.org/grpc"

	"github.com/envctl/envctl/internal/errs"
)

// Where SOPS keys come from, as the sops tool reads them.
const (
	EnvAgeKey     = "SOPS_AGE_KEY"
	EnvAgeKeyFile = "SOPS_AGE_KEY_FILE"
)

func init() {
	// sops logs through logrus to stderr; envctl reports what matters itself.
	for _, l := range logging.Loggers {
		l.SetOutput(io.Discard)
	}
}

// keyring holds the private keys SOPS files are decrypted with, in memory:
// age identities and OpenPGP private keys.
type keyring struct {
	age sopsage.ParsedIdentities
	pgp openpgp.EntityList
	// from names where the keys came from, for messages.
	from []string
}

// loadKeyring reads the keys of SOPS_AGE_KEY, SOPS_AGE_KEY_FILE and keyFile
// (the --decryption-key-file flag). A key file may hold age identities (one
// a line, # comments) and armored OpenPGP private key blocks.
func loadKeyring(keyFile string) (*keyring, error) {
	k := &keyring{}
	if v := os.Getenv(EnvAgeKey); v != "" {
		if err := k.add([]byte(v), "$"+EnvAgeKey); err != nil {
			return nil, err
		}
	}
	for _, f := range []struct{ path, what string }{
		{os.Getenv(EnvAgeKeyFile), "$" + EnvAgeKeyFile},
		{keyFile, "--decryption-key-file"},
	} {
		if f.path == "" {
			continue
		}
		p, err := expandHome(f.path)
		if err != nil {
			return nil, errs.Inputf("%s %s: %v", f.what, f.path, err)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, errs.Inputf("%s: %v", f.what, err)
		}
		if err := k.add(data, f.what+" "+f.path); err != nil {
			return nil, err
		}
	}
	return k, nil
}

const pgpBegin = "-----BEGIN PGP PRIVATE KEY BLOCK-----"

// add parses the keys in data; what names the source in messages, which
// never quote the data.
func (k *keyring) add(data []byte, what string) error {
	text := string(data)
	for {
		i := strings.Index(text, pgpBegin)
		if i < 0 {
			break
		}
		end := strings.Index(text[i:], "-----END PGP PRIVATE KEY BLOCK-----")
		if end < 0 {
			return errs.Inputf("%s: an OpenPGP private key block has no end", what)
		}
		end += i + len("-----END PGP PRIVATE KEY BLOCK-----")
		ring, err := openpgp.ReadArmoredKeyRing(strings.NewReader(text[i:end]))
		if err != nil {
			return errs.Inputf("%s: cannot read the OpenPGP private key: %v", what, err)
		}
		k.pgp = append(k.pgp, ring...)
		text = text[:i] + text[end:]
	}
	var lines []string
	for _, l := range strings.Split(text, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	if len(lines) > 0 {
		if err := k.age.Import(strings.Join(lines, "\n")); err != nil {
			return errs.Inputf("%s: not age identities (AGE-SECRET-KEY-1...) or an OpenPGP private key", what)
		}
	}
	k.from = append(k.from, what)
	return nil
}

// describe says where keys were looked for, for a missing-key message.
func (k *keyring) describe() string {
	if len(k.from) == 0 {
		return "no key was given: set " + EnvAgeKeyFile + " or " + EnvAgeKey + ", or pass --decryption-key-file"
	}
	return "none of the keys from " + strings.Join(k.from, ", ") + " opens it"
}

// Encrypt implements keyservice.KeyServiceClient; rendering only decrypts.
func (k *keyring) Encrypt(context.Context, *keyservice.EncryptRequest, ...grpc.CallOption) (*keyservice.EncryptResponse, error) {
	return nil, errors.New("envctl does not encrypt")
}

// Decrypt implements keyservice.KeyServiceClient: it opens a file's data
// key with an age identity or an OpenPGP key of the keyring, never asking
// an agent, a program or the network.
func (k *keyring) Decrypt(_ context.Context, req *keyservice.DecryptRequest, _ ...grpc.CallOption) (*keyservice.DecryptResponse, error) {
	switch {
	case req.GetKey().GetAgeKey() != nil:
		if len(k.age) == 0 {
			return nil, errors.New("no age identity")
		}
		mk := &sopsage.MasterKey{Recipient: req.GetKey().GetAgeKey().GetRecipient(), EncryptedKey: string(req.GetCiphertext())}
		k.age.ApplyToMasterKey(mk)
		key, err := mk.Decrypt()
		if err != nil {
			return nil, errors.New("no age identity matches")
		}
		return &keyservice.DecryptResponse{Plaintext: key}, nil
	case req.GetKey().GetPgpKey() != nil:
		if len(k.pgp) == 0 {
			return nil, errors.New("no OpenPGP key")
		}
		block, err := armor.Decode(bytes.NewReader(req.GetCiphertext()))
		if err != nil {
			return nil, fmt.Errorf("OpenPGP data key: %w", err)
		}
		md, err := openpgp.ReadMessage(block.Body, k.pgp, nil, nil)
		if err != nil {
			return nil, errors.New("no OpenPGP key matches, or the key is passphrase-protected")
		}
		key, err := io.ReadAll(md.UnverifiedBody)
		if err != nil {
			return nil, fmt.Errorf("OpenPGP data key: %w", err)
		}
		return &keyservice.DecryptResponse{Plaintext: key}, nil
	default:
		return nil, errors.New("a key type envctl does not use (only age and PGP keys are)")
	}
}

// sopsStore is the part of a sops store envctl uses.
type sopsStore interface {
	LoadEncryptedFile(in []byte) (sops.Tree, error)
	EmitPlainFile(in sops.TreeBranches) ([]byte, error)
}

// storeFor picks the sops store for a file name, as the sops tool does.
func storeFor(name string) sopsStore {
	switch strings.ToLower(path.Ext(name)) {
	case ".yaml", ".yml":
		return sopsyaml.NewStore(&sopsconfig.YAMLStoreConfig{})
	case ".json":
		return sopsjson.NewStore(&sopsconfig.JSONStoreConfig{})
	case ".env":
		return dotenv.NewStore(&sopsconfig.DotenvStoreConfig{})
	default:
		return sopsjson.NewBinaryStore(&sopsconfig.JSONBinaryStoreConfig{})
	}
}

// looksEncrypted is a cheap test before parsing: every SOPS file names its
// metadata.
func looksEncrypted(data []byte) bool {
	return bytes.Contains(data, []byte("sops")) && bytes.Contains(data, []byte("mac"))
}

// decrypter decrypts the SOPS files of one render, loading the keys once,
// on the first encrypted file.
type decrypter struct {
	keyFile string

	once sync.Once
	keys *keyring
	err  error
}

// decrypt returns the plain content of a SOPS file and the values that
// were encrypted in it, or ok false for a file that is not SOPS-encrypted.
// name is the repository path, for messages; no message quotes the file.
func (d *decrypter) decrypt(data []byte, name string) (plain []byte, secrets []string, ok bool, err error) {
	if !looksEncrypted(data) {
		return nil, nil, false, nil
	}
	store := storeFor(name)
	tree, err := store.LoadEncryptedFile(data)
	if errors.Is(err, sops.MetadataNotFound) {
		return nil, nil, false, nil
	}
	if err != nil {
		if !bytes.Contains(data, []byte("ENC[")) {
			return nil, nil, false, nil
		}
		return nil, nil, false, errs.Inputf("%s: not a valid SOPS file: %s", name, firstLine(err.Error()))
	}
	d.once.Do(func() { d.keys, d.err = loadKeyring(d.keyFile) })
	if d.err != nil {
		return nil, nil, false, d.err
	}
	key, err := tree.Metadata.GetDataKeyWithKeyServices([]keyservice.KeyServiceClient{d.keys}, nil)
	if err != nil {
		return nil, nil, false, errs.Inputf("%s: cannot decrypt this SOPS file (encrypted for %s): %s", name, recipients(tree.Metadata), d.keys.describe())
	}
	encrypted := cloneBranches(tree.Branches)
	cipher := aes.NewCipher()
	mac, err := tree.Decrypt(key, cipher)
	if err != nil {
		return nil, nil, false, errs.Inputf("%s: a value of this SOPS file does not decrypt: the file was changed after it was encrypted", name)
	}
	stored, err := cipher.Decrypt(tree.Metadata.MessageAuthenticationCode, key, tree.Metadata.LastModified.Format(time.RFC3339))
	if err != nil || stored != mac {
		return nil, nil, false, errs.Inputf("%s: SOPS MAC mismatch: the file was changed after it was encrypted (edit it with sops, not by hand)", name)
	}
	plain, err = store.EmitPlainFile(tree.Branches)
	if err != nil {
		return nil, nil, false, errs.Inputf("%s: cannot write the decrypted document: %s", name, firstLine(err.Error()))
	}
	for _, b := range slicesZip(encrypted, tree.Branches) {
		secrets = collectDecrypted(b[0], b[1], secrets)
	}
	return plain, secrets, true, nil
}

// recipients names the keys a file is encrypted for, without secrets.
func recipients(m sops.Metadata) string {
	var out []string
	for _, g := range m.KeyGroups {
		for _, k := range g {
			out = append(out, k.TypeToIdentifier()+" "+k.ToString())
		}
	}
	if len(out) == 0 {
		return "no key"
	}
	return strings.Join(out, ", ")
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func slicesZip(a, b sops.TreeBranches) [][2]any {
	var out [][2]any
	for i := range min(len(a), len(b)) {
		out = append(out, [2]any{a[i], b[i]})
	}
	return out
}

// cloneBranches copies the tree's structure, so that the encrypted values
// can be told from the clear ones once the tree is decrypted in place.
func cloneBranches(in sops.TreeBranches) sops.TreeBranches {
	out := make(sops.TreeBranches, len(in))
	for i, b := range in {
		out[i] = cloneValue(b).(sops.TreeBranch)
	}
	return out
}

func cloneValue(v any) any {
	switch t := v.(type) {
	case sops.TreeBranch:
		out := make(sops.TreeBranch, len(t))
		for i, it := range t {
			out[i] = sops.TreeItem{Key: it.Key, Value: cloneValue(it.Value)}
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = cloneValue(e)
		}
		return out
	default:
		return v
	}
}

// collectDecrypted appends the decrypted form of every value that was
// encrypted (an ENC[...] string in enc) to out.
func collectDecrypted(enc, dec any, out []string) []string {
	switch e := enc.(type) {
	case sops.TreeBranch:
		d, ok := dec.(sops.TreeBranch)
		if !ok {
			return out
		}
		for i := range min(len(e), len(d)) {
			out = collectDecrypted(e[i].Value, d[i].Value, out)
		}
	case []any:
		d, ok := dec.([]any)
		if !ok {
			return out
		}
		for i := range min(len(e), len(d)) {
			out = collectDecrypted(e[i], d[i], out)
		}
	case string:
		if strings.HasPrefix(e, "ENC[") {
			if s := fmt.Sprint(dec); s != "" && !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}
