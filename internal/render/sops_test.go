package render

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/getsops/sops/v3"
	"github.com/getsops/sops/v3/aes"
	sopsage "github.com/getsops/sops/v3/age"
	"github.com/getsops/sops/v3/keys"
	"github.com/getsops/sops/v3/pgp"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/errs"
)

var updateSOPS = flag.Bool("update-sops", false, "re-encrypt the platform's SOPS fixtures with the test key under testdata/sops")

// secretRegex encrypts the values of Secrets' data and stringData only, as
// repositories' .sops.yaml files usually ask for Kubernetes manifests.
const secretRegex = "^(data|stringData)$"

// encryptSOPS encrypts plain (a file called name, whose extension says its
// format) for the given master keys, as `sops --encrypt` does.
func encryptSOPS(t testing.TB, plain []byte, name, encryptedRegex string, masters ...keys.MasterKey) []byte {
	t.Helper()
	st, ok := storeFor(name).(interface {
		LoadPlainFile([]byte) (sops.TreeBranches, error)
		EmitEncryptedFile(sops.Tree) ([]byte, error)
	})
	if !ok {
		t.Fatalf("no sops store for %s", name)
	}
	branches, err := st.LoadPlainFile(plain)
	if err != nil {
		t.Fatal(err)
	}
	dataKey := make([]byte, 32)
	if _, err := rand.Read(dataKey); err != nil {
		t.Fatal(err)
	}
	// Each file has its own data key, so a master key shared by several
	// files encrypts it again; the stores know sops' own key types only.
	group := make(sops.KeyGroup, 0, len(masters))
	for _, m := range masters {
		if err := m.Encrypt(dataKey); err != nil {
			t.Fatal(err)
		}
		if p, ok := m.(pgpMaster); ok {
			m = p.MasterKey
		}
		group = append(group, m)
	}
	tree := sops.Tree{Branches: branches, Metadata: sops.Metadata{
		KeyGroups: []sops.KeyGroup{group}, EncryptedRegex: encryptedRegex, Version: "3.13.3",
	}}
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

// newAgeKey makes an age identity and returns its master key (recipient)
// and the key file's content.
func newAgeKey(t testing.TB) (keys.MasterKey, string) {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	mk, err := sopsage.MasterKeyFromRecipient(id.Recipient().String())
	if err != nil {
		t.Fatal(err)
	}
	return mk, "# test key\n" + id.String() + "\n"
}

// pgpMaster is a sops PGP master key for an entity made in memory, whose
// data key is encrypted with go-crypto rather than GnuPG.
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

func newPGPKey(t testing.TB) (keys.MasterKey, string) {
	t.Helper()
	e, err := openpgp.NewEntity("envctl test", "", "test@example.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	aw, err := armor.Encode(&buf, openpgp.PrivateKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.SerializePrivate(aw, nil); err != nil {
		t.Fatal(err)
	}
	aw.Close()
	fp := strings.ToUpper(hex.EncodeToString(e.PrimaryKey.Fingerprint))
	return pgpMaster{MasterKey: &pgp.MasterKey{Fingerprint: fp, CreationDate: time.Now().UTC()}, entity: e}, buf.String()
}

// sopsRepo writes a repository whose components read SOPS files: a
// kustomization with an encrypted Secret manifest and a secretGenerator
// from an encrypted dotenv file and an encrypted binary file, a manifest
// directory with an encrypted JSON Secret, and a chart with an encrypted
// values file. canary marks every secret value.
func sopsRepo(t *testing.T, canary string, master keys.MasterKey) (string, *config.Environment) {
	t.Helper()
	secret := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: apps\nstringData:\n  password: " + canary + "-db\n"
	files := map[string]string{
		"k/kustomization.yaml": `namespace: apps
resources: [namespace.yaml, db.sops.yaml]
secretGenerator:
  - name: api
    envs: [api.sops.env]
  - name: cert
    files: [tls.key=tls.sops.key]
generatorOptions: {disableNameSuffixHash: true}
`,
		"k/namespace.yaml":    "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: apps\n",
		"k/db.sops.yaml":      string(encryptSOPS(t, []byte(secret), "db.sops.yaml", secretRegex, master)),
		"k/api.sops.env":      string(encryptSOPS(t, []byte("TOKEN="+canary+"-env\nUSER=svc\n"), "api.sops.env", "", master)),
		"k/tls.sops.key":      string(encryptSOPS(t, []byte("-----BEGIN KEY-----\n"+canary+"-bin\n-----END KEY-----\n"), "tls.sops.key", "", master)),
		"m/secret.sops.json":  string(encryptSOPS(t, []byte(`{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "json", "namespace": "apps"}, "data": {"key": "`+base64.StdEncoding.EncodeToString([]byte(canary+"-json"))+`"}}`), "secret.sops.json", secretRegex, master)),
		"m/plain.yaml":        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: plain\n  namespace: apps\ndata:\n  sops: not encrypted\n",
		"c/Chart.yaml":        "apiVersion: v2\nname: c\nversion: 1.0.0\n",
		"c/templates/s.yaml":  "apiVersion: v1\nkind: Secret\nmetadata:\n  name: from-values\nstringData:\n  dsn: postgres://app:{{ .Values.password }}@db\n",
		"values/c.sops.yaml":  string(encryptSOPS(t, []byte("password: "+canary+"-values\n"), "c.sops.yaml", "", master)),
		"values/c-plain.yaml": "other: 1\n",
	}
	root := fidelityRepo(t, files)
	sops := &config.Decryption{Provider: config.DecryptionSOPS}
	env := newEnv(config.ProviderEmbedded,
		config.Component{Name: "k", Kustomize: "k", Decryption: sops},
		config.Component{Name: "m", Manifests: &config.Manifests{Path: "m"}, Decryption: sops},
		config.Component{Name: "c", Helm: &config.HelmRelease{Chart: "c", Namespace: "apps",
			ValuesFiles: []string{"values/c-plain.yaml", "values/c.sops.yaml"}}, Decryption: sops},
	)
	return root, env
}

func secretValue(t *testing.T, res *Result, name, key string) string {
	t.Helper()
	o := findObject(t, res, "Secret", name)
	if v, ok, _ := unstructuredString(o.Object, "stringData", key); ok {
		return v
	}
	v, _, _ := unstructuredString(o.Object, "data", key)
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		t.Fatalf("Secret %s data %s is not base64", name, key)
	}
	return string(b)
}

func unstructuredString(obj map[string]any, field, key string) (string, bool, error) {
	m, _ := obj[field].(map[string]any)
	v, ok := m[key].(string)
	return v, ok, nil
}

// TestSOPSDecryption decrypts age- and PGP-encrypted files in kustomize
// resources, secretGenerator files, manifest directories and Helm values
// files, in memory; output for reading masks them.
func TestSOPSDecryption(t *testing.T) {
	t.Setenv(EnvAgeKey, "")
	t.Setenv(EnvAgeKeyFile, "")
	ageKey, ageID := newAgeKey(t)
	pgpKey, pgpID := newPGPKey(t)
	for _, tt := range []struct {
		name   string
		master keys.MasterKey
		setup  func(t *testing.T) string // returns --decryption-key-file
	}{
		{"age from SOPS_AGE_KEY_FILE", ageKey, func(t *testing.T) string {
			f := filepath.Join(t.TempDir(), "keys.txt")
			os.WriteFile(f, []byte(ageID), 0o600)
			t.Setenv(EnvAgeKeyFile, f)
			return ""
		}},
		{"age from SOPS_AGE_KEY", ageKey, func(t *testing.T) string { t.Setenv(EnvAgeKey, ageID); return "" }},
		{"pgp from --decryption-key-file", pgpKey, func(t *testing.T) string {
			f := filepath.Join(t.TempDir(), "key.asc")
			os.WriteFile(f, []byte(pgpID), 0o600)
			return f
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			canary := "sops-canary-" + hex.EncodeToString([]byte(tt.name))[:12]
			root, env := sopsRepo(t, canary, tt.master)
			keyFile := tt.setup(t)
			before := snapshotTree(t, root)
			res, err := renderRepo(t, root, env, func(o *Options) { o.DecryptionKeyFile = keyFile })
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct{ secret, key, want string }{
				{"db", "password", canary + "-db"},
				{"api", "TOKEN", canary + "-env"},
				{"cert", "tls.key", "-----BEGIN KEY-----\n" + canary + "-bin\n-----END KEY-----\n"},
				{"json", "key", canary + "-json"},
				{"from-values", "dsn", "postgres://app:" + canary + "-values@db"},
			} {
				if got := secretValue(t, res, c.secret, c.key); got != c.want {
					t.Errorf("Secret %s %s decrypted to %q, want %q", c.secret, c.key, got, c.want)
				}
			}
			files := map[string][]string{}
			for _, c := range res.Components {
				files[c.Name] = c.SOPSFiles
			}
			wantFiles := map[string][]string{
				"k": {"k/api.sops.env", "k/db.sops.yaml", "k/tls.sops.key"},
				"m": {"m/secret.sops.json"},
				"c": {"values/c.sops.yaml"},
			}
			if !reflect.DeepEqual(files, wantFiles) {
				t.Errorf("SOPS files by component %v, want %v", files, wantFiles)
			}
			if got := findObject(t, res, "ConfigMap", "plain").Object["data"].(map[string]any)["sops"]; got != "not encrypted" {
				t.Errorf("a plain file mentioning sops: %v", got)
			}
			if after := snapshotTree(t, root); after != before {
				t.Error("rendering changed or added files in the repository")
			}
			var plainOut, maskedOut bytes.Buffer
			if err := WriteYAML(&plainOut, res); err != nil {
				t.Fatal(err)
			}
			if err := WriteYAML(&maskedOut, res.Masked()); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(plainOut.String(), base64.StdEncoding.EncodeToString([]byte(canary+"-json"))) {
				t.Error("the unmasked output lacks the decrypted value")
			}
			if strings.Contains(maskedOut.String(), canary) || strings.Contains(maskedOut.String(), base64.StdEncoding.EncodeToString([]byte(canary+"-json"))) {
				t.Errorf("masked output shows a decrypted value:\n%s", maskedOut.String())
			}
			if n := strings.Count(maskedOut.String(), MaskedValue); n < 6 {
				t.Errorf("%d masked values, want every key of the 5 decrypted Secrets", n)
			}
		})
	}
}

// snapshotTree lists every file under root with its size and mode, to show
// that rendering wrote nothing.
func snapshotTree(t *testing.T, root string) string {
	t.Helper()
	var b strings.Builder
	filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err == nil {
			b.WriteString(p + " " + info.Mode().String() + " " + info.ModTime().String() + "\n")
		}
		return nil
	})
	return b.String()
}

// TestSOPSErrors: a missing key and a tampered file are bad input naming
// the file, and never quote a value.
func TestSOPSErrors(t *testing.T) {
	t.Setenv(EnvAgeKey, "")
	t.Setenv(EnvAgeKeyFile, "")
	ageKey, ageID := newAgeKey(t)
	_, otherID := newAgeKey(t)
	const canary = "sops-error-canary-2718"
	root, env := sopsRepo(t, canary, ageKey)

	_, err := renderRepo(t, root, env, nil)
	for _, w := range []string{"k/db.sops.yaml", "no key was given", "SOPS_AGE_KEY_FILE"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("without a key: %v; want an error saying %q", err, w)
		}
	}
	if errs.KindOf(err) != errs.KindInput {
		t.Errorf("without a key: kind %v, want bad input", errs.KindOf(err))
	}

	t.Setenv(EnvAgeKey, otherID)
	_, err = renderRepo(t, root, env, nil)
	if err == nil || !strings.Contains(err.Error(), "none of the keys from $SOPS_AGE_KEY opens it") || !strings.Contains(err.Error(), "age age1") {
		t.Errorf("with the wrong key: %v", err)
	}

	// A value left in clear (the Secret's name) is changed by hand: the
	// MAC no longer matches.
	t.Setenv(EnvAgeKey, ageID)
	db := filepath.Join(root, "k/db.sops.yaml")
	data, _ := os.ReadFile(db)
	os.WriteFile(db, bytes.Replace(data, []byte("name: db"), []byte("name: dx"), 1), 0o644)
	_, err = renderRepo(t, root, env, nil)
	if err == nil || !strings.Contains(err.Error(), "k/db.sops.yaml: SOPS MAC mismatch") || errs.KindOf(err) != errs.KindInput {
		t.Errorf("tampered file: %v, want a bad-input MAC mismatch naming it", err)
	}
	for _, e := range []error{err} {
		if e != nil && strings.Contains(e.Error(), canary) {
			t.Errorf("an error quotes a secret value: %v", e)
		}
	}
}

// TestPlatformSOPSFixture keeps the staging overlay's encrypted secret in
// step with the test key: -update-sops re-encrypts it.
func TestPlatformSOPSFixture(t *testing.T) {
	keyFile, err := filepath.Abs("testdata/sops/staging.agekey")
	if err != nil {
		t.Fatal(err)
	}
	enc := filepath.Join("..", "..", "overlays", "staging", "model-serving", "secrets.sops.env")
	if *updateSOPS {
		k := &keyring{}
		key, _ := os.ReadFile(keyFile)
		if err := k.add(key, "test key"); err != nil {
			t.Fatal(err)
		}
		mk, err := sopsage.MasterKeyFromRecipient(k.age[0].(*age.X25519Identity).Recipient().String())
		if err != nil {
			t.Fatal(err)
		}
		salt := make([]byte, 24)
		rand.Read(salt)
		plain := "# Staging's HMAC key for customer ids in the prediction log.\nprediction-log-salt=" + hex.EncodeToString(salt) + "\n"
		if err := os.WriteFile(enc, encryptSOPS(t, []byte(plain), enc, "", mk), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(enc)
	if err != nil {
		t.Fatal(err)
	}
	d := &decrypter{keyFile: keyFile}
	t.Setenv(EnvAgeKey, "")
	t.Setenv(EnvAgeKeyFile, "")
	plain, secrets, ok, err := d.decrypt(data, "overlays/staging/model-serving/secrets.sops.env")
	if err != nil || !ok || !strings.Contains(string(plain), "prediction-log-salt=") || len(secrets) != 1 || len(secrets[0]) != 48 {
		t.Fatalf("the staging secret does not decrypt with the test key: ok=%v err=%v", ok, err)
	}
	if strings.Contains(string(data), secrets[0]) {
		t.Error("the staging secret is in clear in the file")
	}
}
