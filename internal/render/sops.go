package render

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/ProtonMail/go-crypto/openpgp"
	sopsage "github.com/getsops/sops/v3/age"
	"github.com/getsops/sops/v3/logging"

	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/sopskeys"
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
	// from names where the keys came from, for messages; skipped says
	// why a variable gave none.
	from    []string
	skipped []string
	// sops opens age keys as sops would find them.
	sops *sopskeys.AgeLookup
	// services are the --sops-keyservice key services, asked in order
	// for every key of a group that nothing local opens; serviceErr
	// keeps the last error of each, for messages.
	services   []*sopskeys.KeyService
	ctx        context.Context
	mu         sync.Mutex
	serviceErr map[string]error
}

// loadKeyring reads the keys of SOPS_AGE_KEY, SOPS_AGE_KEY_FILE and keyFile
// (the --decryption-key-file flag). A key file may hold age identities (one
// a line, # comments) and armored OpenPGP private key blocks. A variable
// that cannot be read does not stop the others, as in sops; the flag does.
func loadKeyring(keyFile string) (*keyring, error) {
	k := &keyring{sops: &sopskeys.AgeLookup{}}
	if v := os.Getenv(EnvAgeKey); v != "" {
		if !strings.Contains(v, pgpBegin) {
			v = ageKeyWords(v)
		}
		if err := k.add([]byte(v), "$"+EnvAgeKey); err != nil {
			k.skipped = append(k.skipped, err.Error())
		}
	}
	if f := os.Getenv(EnvAgeKeyFile); f != "" {
		if err := k.addFile(f, "$"+EnvAgeKeyFile); err != nil {
			k.skipped = append(k.skipped, err.Error())
		}
	}
	if keyFile != "" {
		if err := k.addFile(keyFile, "--decryption-key-file"); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// addFile reads the keys of a file; what names its source.
func (k *keyring) addFile(path, what string) error {
	p, err := expandHome(path)
	if err != nil {
		return errs.Inputf("%s %s: %v", what, path, err)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return errs.Inputf("%s: %v", what, err)
	}
	return k.add(data, what+" "+path)
}

// ageKeyWords puts each identity of $SOPS_AGE_KEY on a line of its own:
// sops takes several on a line there, as words, besides # comment lines.
func ageKeyWords(v string) string {
	var lines []string
	for _, l := range strings.Split(v, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "#") {
			lines = append(lines, l)
			continue
		}
		lines = append(lines, strings.Fields(l)...)
	}
	return strings.Join(lines, "\n")
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

// describe says where keys were looked for, in order, for a missing-key
// message: the keys envctl was given, the places sops' age lookup reads
// (with what sops said about them) and the key services asked.
func (k *keyring) describe() string {
	msg := "no key was given (--decryption-key-file)"
	if len(k.from) > 0 {
		msg = "none of the keys from " + strings.Join(k.from, ", ") + " opens it"
	}
	if len(k.skipped) > 0 {
		msg += " (" + strings.Join(k.skipped, "; ") + ")"
	}
	var sops []string
	for _, l := range sopskeys.Locations() {
		sops = append(sops, l.String())
	}
	msg += "; then envctl looked where sops looks: " + strings.Join(sops, ", ")
	if d := k.sops.Detail(); d != "" {
		msg += " (sops: " + d + ")"
	}
	if len(k.services) == 0 {
		return msg + "; no key service was asked (--sops-keyservice)"
	}
	for _, s := range k.services {
		k.mu.Lock()
		err := k.serviceErr[s.Addr]
		k.mu.Unlock()
		if err != nil {
			msg += "; then " + err.Error()
		} else {
			msg += "; then key service " + s.Addr + " (not asked)"
		}
	}
	return msg
}

// looksEncrypted is a cheap test before parsing: every SOPS file names its
// metadata.
func looksEncrypted(data []byte) bool {
	return bytes.Contains(data, []byte("sops")) && bytes.Contains(data, []byte("mac"))
}

// decrypter decrypts the SOPS files of one render, loading the keys once,
// on the first encrypted file.
type decrypter struct {
	ctx         context.Context
	keyFile     string
	keyServices []string

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
	doc, err := loadSOPS(data, sopsFormatFor(name))
	if errors.Is(err, errNoMetadata) {
		return nil, nil, false, nil
	}
	if err != nil {
		if !bytes.Contains(data, []byte("ENC[")) {
			return nil, nil, false, nil
		}
		return nil, nil, false, errs.Inputf("%s: not a valid SOPS file: %s", name, firstLine(err.Error()))
	}
	if doc.meta.UnencryptedCommentRegex != "" || doc.meta.EncryptedCommentRegex != "" {
		return nil, nil, false, errs.Inputf("%s: not a valid SOPS file for envctl: it uses unencrypted_comment_regex or encrypted_comment_regex, which envctl does not read", name)
	}
	d.once.Do(d.load)
	if d.err != nil {
		return nil, nil, false, d.err
	}
	key, err := d.keys.dataKey(&doc.meta)
	if err != nil {
		return nil, nil, false, errs.Inputf("%s: cannot decrypt this SOPS file (encrypted for %s): %s", name, recipients(&doc.meta), d.keys.describe())
	}
	mac, secrets, err := doc.decrypt(key)
	if err != nil {
		if errors.Is(err, errBadValue) {
			return nil, nil, false, errs.Inputf("%s: a value of this SOPS file does not decrypt: the file was changed after it was encrypted", name)
		}
		return nil, nil, false, errs.Inputf("%s: not a valid SOPS file: %s", name, firstLine(err.Error()))
	}
	stored, err := doc.storedMAC(key)
	if err != nil || stored != mac {
		return nil, nil, false, errs.Inputf("%s: SOPS MAC mismatch: the file was changed after it was encrypted (edit it with sops, not by hand)", name)
	}
	plain, err = doc.emit()
	if err != nil {
		return nil, nil, false, errs.Inputf("%s: cannot write the decrypted document: %s", name, firstLine(err.Error()))
	}
	return plain, secrets, true, nil
}

// load reads the keyring and connects the key services.
func (d *decrypter) load() {
	d.keys, d.err = loadKeyring(d.keyFile)
	if d.err != nil {
		return
	}
	d.keys.ctx = d.ctx
	if d.keys.ctx == nil {
		d.keys.ctx = context.Background()
	}
	for _, addr := range d.keyServices {
		s, err := sopskeys.Dial(addr)
		if err != nil {
			d.err = errs.Inputf("--sops-keyservice: %v", err)
			return
		}
		d.keys.services = append(d.keys.services, s)
	}
}

// close closes the connections to the key services.
func (d *decrypter) close() {
	if d.keys != nil {
		for _, s := range d.keys.services {
			_ = s.Close()
		}
	}
}

// recipients names the keys a file is encrypted for, without secrets.
func recipients(m *sopsMetadata) string {
	var out []string
	for _, g := range m.groups() {
		for _, k := range g.Age {
			out = append(out, "age "+k.Recipient)
		}
		for _, k := range g.PGP {
			out = append(out, "pgp "+k.Fingerprint)
		}
		for _, k := range g.KMS {
			out = append(out, "kms "+k.Arn)
		}
		for _, k := range g.GCPKMS {
			out = append(out, "gcp_kms "+k.ResourceID)
		}
		for _, k := range g.AzureKV {
			out = append(out, "azure_kv "+k.VaultURL+"/keys/"+k.Name+"/"+k.Version)
		}
		for _, k := range g.Vault {
			out = append(out, "hc_vault "+k.Address+"/v1/"+k.Engine+"/keys/"+k.Key)
		}
		for _, k := range g.HCKMS {
			out = append(out, "hckms "+k.KeyID)
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
