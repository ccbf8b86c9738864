package render

import "encoding/base64"

// The plain content of the SOPS fixtures under testdata/sops, which
// sops_fixtures_gen_test.go (build tag sopsfixtures) encrypts with the sops
// library. The tests decrypt the fixtures and compare with these.

// secretRegex encrypts the values of Secrets' data and stringData only, as
// repositories' .sops.yaml files usually ask for Kubernetes manifests.
const secretRegex = "^(data|stringData)$"

// sopsRepoCanary, followed by the key type (age, pgp), marks every secret
// value of the fixtures of TestSOPSDecryption.
const sopsRepoCanary = "sops-canary-"

type sopsRepoFile struct {
	plain string
	regex bool // encrypted with secretRegex
}

// sopsRepoFiles are the encrypted files of sopsRepo, by name.
func sopsRepoFiles(canary string) map[string]sopsRepoFile {
	return map[string]sopsRepoFile{
		"db.sops.yaml":     {"apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: apps\nstringData:\n  password: " + canary + "-db\n", true},
		"api.sops.env":     {"TOKEN=" + canary + "-env\nUSER=svc\n", false},
		"tls.sops.key":     {"-----BEGIN KEY-----\n" + canary + "-bin\n-----END KEY-----\n", false},
		"secret.sops.json": {`{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "json", "namespace": "apps"}, "data": {"key": "` + base64.StdEncoding.EncodeToString([]byte(canary+"-json")) + `"}}`, true},
		"c.sops.yaml":      {"password: " + canary + "-values\n", false},
	}
}

// sopsFormatFixture is a file of testdata/sops/formats.
type sopsFormatFixture struct {
	file              string
	plain             string
	encryptedRegex    string
	unencryptedSuffix string
	macOnly           bool
	shamir            bool // two key groups (age, PGP), both needed
	// secrets are the values that are encrypted in the file.
	secrets []string
}

var sopsFormatFixtures = []sopsFormatFixture{
	{
		file: "types.sops.yaml",
		plain: `# a comment
apiVersion: v1
kind: Secret
metadata:
  name: types
  labels: {app: db}
stringData:
  password: "s3cr3t: with colon"
  port: 5432
  ratio: 0.25
  enabled: true
  quoted: "123"
  empty: ""
  nothing: null
  nested:
    list: [one, 2, {deep: three}]
    multi: |
      line one
      line two
data:
  key: c2VjcmV0LWJ5dGVz
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: second
data:
  plain: "yes"
`,
		encryptedRegex: secretRegex,
		secrets:        []string{"s3cr3t: with colon", "5432", "0.25", "true", "123", "one", "2", "three", "line one\nline two\n", "c2VjcmV0LWJ5dGVz", "yes"},
	},
	{
		file:    "all.sops.yaml",
		plain:   "user: admin\npassword: hunter2\nreplicas: 3\nlist:\n  - a\n  - b: 1.5\n",
		secrets: []string{"admin", "hunter2", "3", "a", "1.5"},
	},
	{
		file:    "types.sops.json",
		plain:   `{"b": "x", "a": {"n": 7, "f": 1.5, "t": false, "l": ["y", null, 8]}, "z": null}`,
		secrets: []string{"x", "7", "1.5", "false", "y", "8"},
	},
	{
		file:    "app.sops.env",
		plain:   "# comment\nDB_URL=postgres://u:p@db/x\nMULTI=a\\nb\nEMPTY=\n",
		secrets: []string{"postgres://u:p@db/x", "a\nb"},
	},
	{
		file:    "blob.sops.bin",
		plain:   "\x00binary\nblob\n",
		secrets: []string{"\x00binary\nblob\n"},
	},
	{
		file:    "shamir.sops.yaml",
		plain:   "token: shamir-secret\n",
		shamir:  true,
		secrets: []string{"shamir-secret"},
	},
	{
		file:           "maconly.sops.yaml",
		plain:          "metadata:\n  name: maconly\nstringData:\n  token: maconly-secret\n",
		encryptedRegex: secretRegex,
		macOnly:        true,
		secrets:        []string{"maconly-secret"},
	},
	{
		file:              "suffix.sops.yaml",
		plain:             "host_unencrypted: db.example\nport_unencrypted: 5432\npassword: suffix-secret\n",
		unencryptedSuffix: "_unencrypted",
		secrets:           []string{"suffix-secret"},
	},
}
