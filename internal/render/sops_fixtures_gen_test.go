//go:build sopsfixtures

// The SOPS fixtures under testdata/sops (and the platform's staging secret
// and internal/cli's canary file) are encrypted by the sops library itself,
// so that envctl's own reader is tested against what sops writes. The
// library brings every cloud KMS client with it, so it is compiled only
// with the sopsfixtures tag. Regenerate (keys are kept if present):
//
//	go test -tags sopsfixtures -run TestGenerateSOPSFixtures -update-sops-fixtures ./internal/render
package render

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/getsops/sops/v3"
	"github.com/getsops/sops/v3/aes"
	sopsage "github.com/getsops/sops/v3/age"
	sopsconfig "github.com/getsops/sops/v3/config"
	"github.com/getsops/sops/v3/keys"
	"github.com/getsops/sops/v3/pgp"
	"github.com/getsops/sops/v3/shamir"
	"github.com/getsops/sops/v3/stores/dotenv"
	sopsjson "github.com/getsops/sops/v3/stores/json"
	sopsyaml "github.com/getsops/sops/v3/stores/yaml"
)

var (
	updateFixtures = flag.Bool("update-sops-fixtures", false, "encrypt the SOPS fixtures again with the sops library")
	updateStaging  = flag.Bool("update-sops-staging", false, "with -update-sops-fixtures, also encrypt the platform's staging secret again (a new salt)")
)

// cliCanary marks the value of internal/cli's canary Secret (its test
// looks for it in every output).
const cliCanary = "sopscanary5f3a9c2e71d04b86"

// cliCanarySecret is internal/cli's canary Secret; its kustomization sets
// the namespace.
const cliCanarySecret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: token\nstringData:\n  token: " + cliCanary + "\n"

type fixtureStore interface {
	LoadPlainFile([]byte) (sops.TreeBranches, error)
	EmitEncryptedFile(sops.Tree) ([]byte, error)
}

func fixtureStoreFor(name string) fixtureStore {
	switch sopsFormatFor(name) {
	case sopsYAML:
		return sopsyaml.NewStore(&sopsconfig.YAMLStoreConfig{})
	case sopsJSON:
		return sopsjson.NewStore(&sopsconfig.JSONStoreConfig{})
	case sopsDotenv:
		return dotenv.NewStore(&sopsconfig.DotenvStoreConfig{})
	}
	return sopsjson.NewBinaryStore(&sopsconfig.JSONBinaryStoreConfig{})
}

// encryptFixture encrypts plain (a file called name, whose extension says
// its format) as `sops --encrypt` does, for key groups of master keys (with
// more than one group, the data key is split with Shamir's scheme).
func encryptFixture(t *testing.T, plain []byte, name string, meta sops.Metadata, groups ...[]keys.MasterKey) []byte {
	t.Helper()
	st := fixtureStoreFor(name)
	branches, err := st.LoadPlainFile(plain)
	if err != nil {
		t.Fatal(err)
	}
	dataKey := make([]byte, 32)
	rand.Read(dataKey)
	parts := [][]byte{dataKey}
	if len(groups) > 1 {
		if parts, err = shamir.Split(dataKey, len(groups), meta.ShamirThreshold); err != nil {
			t.Fatal(err)
		}
	}
	for i, masters := range groups {
		var group sops.KeyGroup
		for _, m := range masters {
			if err := m.Encrypt(parts[i]); err != nil {
				t.Fatal(err)
			}
			if p, ok := m.(pgpMaster); ok {
				m = p.MasterKey
			}
			group = append(group, m)
		}
		meta.KeyGroups = append(meta.KeyGroups, group)
	}
	meta.Version = "3.13.3"
	tree := sops.Tree{Branches: branches, Metadata: meta}
	cipher := aes.NewCipher()
	mac, err := tree.Encrypt(dataKey, cipher)
	if err != nil {
		t.Fatal(err)
	}
	tree.Metadata.LastModified = time.Now().UTC()
	if tree.Metadata.MessageAuthenticationCode, err = cipher.Encrypt(mac, dataKey, tree.Metadata.LastModified.Format(time.RFC3339)); err != nil {
		t.Fatal(err)
	}
	out, err := st.EmitEncryptedFile(tree)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// pgpMaster is a sops PGP master key whose data key is encrypted with
// go-crypto rather than GnuPG.
type pgpMaster struct {
	*pgp.MasterKey
	entity *openpgp.Entity
}

func (p pgpMaster) Encrypt(dataKey []byte) error {
	var buf bytes.Buffer
	aw, err := armor.Encode(&buf, "PGP MESSAGE", nil)
	if err != nil {
		return err
	}
	w, err := openpgp.Encrypt(aw, []*openpgp.Entity{p.entity}, nil, nil, nil)
	if err != nil {
		return err
	}
	if _, err := w.Write(dataKey); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	if err := aw.Close(); err != nil {
		return err
	}
	p.MasterKey.EncryptedKey = buf.String()
	return nil
}

// fixtureKey reads a test key file, making it first if it is missing.
func fixtureKey(t *testing.T, file string, make func() []byte) *keyring {
	t.Helper()
	if _, err := os.Stat(file); os.IsNotExist(err) {
		if err := os.WriteFile(file, make(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	k := &keyring{}
	if err := k.add(data, file); err != nil {
		t.Fatal(err)
	}
	return k
}

func newAgeKeyFile() []byte {
	id, _ := age.GenerateX25519Identity()
	return []byte("# envctl's SOPS test key: never use it for anything else.\n" + id.String() + "\n")
}

func newPGPKeyFile() []byte {
	e, _ := openpgp.NewEntity("envctl test", "never use it for anything else", "test@example.com", nil)
	var buf bytes.Buffer
	aw, _ := armor.Encode(&buf, openpgp.PrivateKeyType, nil)
	e.SerializePrivate(aw, nil)
	aw.Close()
	return buf.Bytes()
}

func TestGenerateSOPSFixtures(t *testing.T) {
	if !*updateFixtures {
		t.Skip("pass -update-sops-fixtures to encrypt the fixtures again")
	}
	dir := filepath.Join("testdata", "sops")
	ageRing := fixtureKey(t, filepath.Join(dir, "test.agekey"), newAgeKeyFile)
	fixtureKey(t, filepath.Join(dir, "other.agekey"), newAgeKeyFile)
	pgpRing := fixtureKey(t, filepath.Join(dir, "test.pgp.asc"), newPGPKeyFile)
	stagingRing := fixtureKey(t, filepath.Join(dir, "staging.agekey"), newAgeKeyFile)

	ageKey := func(k *keyring) keys.MasterKey {
		mk, err := sopsage.MasterKeyFromRecipient(k.age[0].(*age.X25519Identity).Recipient().String())
		if err != nil {
			t.Fatal(err)
		}
		return mk
	}
	pgpKey := func() keys.MasterKey {
		e := pgpRing.pgp[0]
		fp := strings.ToUpper(hex.EncodeToString(e.PrimaryKey.Fingerprint))
		return pgpMaster{MasterKey: &pgp.MasterKey{Fingerprint: fp, CreationDate: time.Now().UTC()}, entity: e}
	}
	write := func(name string, data []byte) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// The repository of TestSOPSDecryption, once per key type.
	for _, set := range []struct {
		name string
		key  keys.MasterKey
	}{{"age", ageKey(ageRing)}, {"pgp", pgpKey()}} {
		for file, f := range sopsRepoFiles(sopsRepoCanary + set.name) {
			meta := sops.Metadata{}
			if f.regex {
				meta.EncryptedRegex = secretRegex
			}
			write(filepath.Join(dir, set.name, file), encryptFixture(t, []byte(f.plain), file, meta, []keys.MasterKey{set.key}))
		}
	}

	// The formats and metadata rules of TestSOPSFormats.
	for _, f := range sopsFormatFixtures {
		meta := sops.Metadata{EncryptedRegex: f.encryptedRegex, UnencryptedSuffix: f.unencryptedSuffix, MACOnlyEncrypted: f.macOnly}
		groups := [][]keys.MasterKey{{ageKey(ageRing)}}
		if f.shamir {
			meta.ShamirThreshold = 2
			groups = [][]keys.MasterKey{{ageKey(ageRing)}, {pgpKey()}}
		}
		write(filepath.Join(dir, "formats", f.file), encryptFixture(t, []byte(f.plain), f.file, meta, groups...))
	}

	// Tampered files: a value's ciphertext, and the MAC.
	good, _ := os.ReadFile(filepath.Join(dir, "formats", "types.sops.yaml"))
	write(filepath.Join(dir, "tampered-value.sops.yaml"), tamper(t, good, "port: ENC[AES256_GCM,data:"))
	write(filepath.Join(dir, "tampered-mac.sops.yaml"), tamper(t, good, "mac: ENC[AES256_GCM,data:"))

	// internal/cli's canary Secret.
	write(filepath.Join("..", "cli", "testdata", "sops", "token.sops.yaml"), encryptFixture(t, []byte(cliCanarySecret), "token.sops.yaml",
		sops.Metadata{EncryptedRegex: secretRegex}, []keys.MasterKey{ageKey(ageRing)}))

	// The platform's staging secret.
	if !*updateStaging {
		return
	}
	salt := make([]byte, 24)
	rand.Read(salt)
	plain := "# Staging's HMAC key for customer ids in the prediction log.\nprediction-log-salt=" + hex.EncodeToString(salt) + "\n"
	enc := filepath.Join("..", "..", "overlays", "staging", "model-serving", "secrets.sops.env")
	write(enc, encryptFixture(t, []byte(plain), enc, sops.Metadata{}, []keys.MasterKey{ageKey(stagingRing)}))
}

// tamper changes the first base64 character after marker.
func tamper(t *testing.T, data []byte, marker string) []byte {
	i := bytes.Index(data, []byte(marker))
	if i < 0 {
		t.Fatalf("no %q in the fixture", marker)
	}
	out := bytes.Clone(data)
	j := i + len(marker)
	if out[j] == 'A' {
		out[j] = 'B'
	} else {
		out[j] = 'A'
	}
	return out
}
