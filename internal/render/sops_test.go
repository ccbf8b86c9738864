package render

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/errs"
)

// sopsRepo writes a repository whose components read SOPS files: a
// kustomization with an encrypted Secret manifest and a secretGenerator
// from an encrypted dotenv file and an encrypted binary file, a manifest
// directory with an encrypted JSON Secret, and a chart with an encrypted
// values file. canary marks every secret value.
func sopsRepo(t *testing.T, set string) (string, *config.Environment) {
	t.Helper()
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
		"m/plain.yaml":        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: plain\n  namespace: apps\ndata:\n  sops: not encrypted\n",
		"c/Chart.yaml":        "apiVersion: v2\nname: c\nversion: 1.0.0\n",
		"c/templates/s.yaml":  "apiVersion: v1\nkind: Secret\nmetadata:\n  name: from-values\nstringData:\n  dsn: postgres://app:{{ .Values.password }}@db\n",
		"values/c-plain.yaml": "other: 1\n",
	}
	for dst, src := range map[string]string{
		"k/db.sops.yaml": "db.sops.yaml", "k/api.sops.env": "api.sops.env", "k/tls.sops.key": "tls.sops.key",
		"m/secret.sops.json": "secret.sops.json", "values/c.sops.yaml": "c.sops.yaml",
	} {
		data, err := os.ReadFile(filepath.Join("testdata", "sops", set, src))
		if err != nil {
			t.Fatal(err)
		}
		files[dst] = string(data)
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
	ageID := readTestKey(t, "test.agekey")
	pgpID := readTestKey(t, "test.pgp.asc")
	for _, tt := range []struct {
		name  string
		set   string                    // the fixtures' key type
		setup func(t *testing.T) string // returns --decryption-key-file
	}{
		{"age from SOPS_AGE_KEY_FILE", "age", func(t *testing.T) string {
			f := filepath.Join(t.TempDir(), "keys.txt")
			os.WriteFile(f, []byte(ageID), 0o600)
			t.Setenv(EnvAgeKeyFile, f)
			return ""
		}},
		{"age from SOPS_AGE_KEY", "age", func(t *testing.T) string { t.Setenv(EnvAgeKey, ageID); return "" }},
		{"pgp from --decryption-key-file", "pgp", func(t *testing.T) string {
			f := filepath.Join(t.TempDir(), "key.asc")
			os.WriteFile(f, []byte(pgpID), 0o600)
			return f
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			canary := sopsRepoCanary + tt.set
			root, env := sopsRepo(t, tt.set)
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
			if red := res.Redact(plainOut.String()); strings.Contains(red, canary) || !strings.Contains(red, Redacted) {
				t.Errorf("Redact leaves a decrypted value, or redacts none:\n%s", red)
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
	ageID := readTestKey(t, "test.agekey")
	otherID := readTestKey(t, "other.agekey")
	const canary = sopsRepoCanary + "age"
	root, env := sopsRepo(t, "age")

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

// TestPlatformSOPSFixture: the staging overlay's encrypted secret opens
// with the test key (sops_fixtures_gen_test.go encrypts it again).
func TestPlatformSOPSFixture(t *testing.T) {
	keyFile, err := filepath.Abs("testdata/sops/staging.agekey")
	if err != nil {
		t.Fatal(err)
	}
	enc := filepath.Join("..", "..", "overlays", "staging", "model-serving", "secrets.sops.env")
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

// readTestKey reads a committed test key of testdata/sops.
func readTestKey(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "sops", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
