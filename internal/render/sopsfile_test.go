package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/envctl/envctl/internal/errs"
)

// testKeyFile writes a key file with the committed test keys named.
func testKeyFile(t *testing.T, names ...string) string {
	t.Helper()
	var b strings.Builder
	for _, n := range names {
		b.WriteString(readTestKey(t, n) + "\n")
	}
	f := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(f, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// parsedAs reads a plain file as the tools downstream do, to compare data
// rather than bytes.
func parsedAs(t *testing.T, data []byte, format sopsFormat) any {
	t.Helper()
	switch format {
	case sopsYAML:
		var docs []any
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for {
			var v any
			err := dec.Decode(&v)
			if errors.Is(err, io.EOF) {
				return docs
			}
			if err != nil {
				t.Fatalf("%v:\n%s", err, data)
			}
			docs = append(docs, v)
		}
	case sopsJSON:
		var v any
		if err := json.Unmarshal(data, &v); err != nil {
			t.Fatalf("%v:\n%s", err, data)
		}
		return v
	case sopsDotenv:
		var lines []string
		for _, l := range strings.Split(string(data), "\n") {
			if l != "" && !strings.HasPrefix(l, "#") {
				lines = append(lines, l)
			}
		}
		return lines
	}
	return string(data)
}

// TestSOPSFormats decrypts files that the sops library encrypted (YAML
// with several documents and every scalar type, JSON, dotenv, binary; two
// key groups; mac_only_encrypted; unencrypted_suffix) to the data they were
// made from, and lists exactly the values that were encrypted.
func TestSOPSFormats(t *testing.T) {
	t.Setenv(EnvAgeKey, "")
	t.Setenv(EnvAgeKeyFile, "")
	keys := testKeyFile(t, "test.agekey", "test.pgp.asc")
	for _, f := range sopsFormatFixtures {
		t.Run(f.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", "sops", "formats", f.file))
			if err != nil {
				t.Fatal(err)
			}
			d := &decrypter{keyFile: keys}
			plain, secrets, ok, err := d.decrypt(data, f.file)
			if err != nil || !ok {
				t.Fatalf("ok=%v err=%v", ok, err)
			}
			format := sopsFormatFor(f.file)
			if got, want := parsedAs(t, plain, format), parsedAs(t, []byte(f.plain), format); !reflect.DeepEqual(got, want) {
				t.Errorf("decrypted to\n%#v\nwant\n%#v\nplain file:\n%s", got, want, plain)
			}
			slices.Sort(secrets)
			want := slices.Clone(f.secrets)
			slices.Sort(want)
			if !slices.Equal(secrets, want) {
				t.Errorf("secrets %q, want %q", secrets, want)
			}
		})
	}
}

// TestSOPSFormatErrors: changed files, a missing key group and files that
// are not SOPS files.
func TestSOPSFormatErrors(t *testing.T) {
	t.Setenv(EnvAgeKey, "")
	t.Setenv(EnvAgeKeyFile, "")
	read := func(name string) []byte {
		data, err := os.ReadFile(filepath.Join("testdata", "sops", name))
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	types := read("formats/types.sops.yaml")
	maconly := read("formats/maconly.sops.yaml")
	for _, tt := range []struct {
		name, file string
		data       []byte
		keys       []string
		want       string // "" for not a SOPS file
	}{
		{"tampered value", "t.yaml", read("tampered-value.sops.yaml"), []string{"test.agekey"}, "a value of this SOPS file does not decrypt"},
		{"tampered MAC", "t.yaml", read("tampered-mac.sops.yaml"), []string{"test.agekey"}, "SOPS MAC mismatch"},
		{"clear value changed", "t.yaml", bytes.Replace(types, []byte("name: second"), []byte("name: third"), 1), []string{"test.agekey"}, "SOPS MAC mismatch"},
		{"clear value changed, mac_only_encrypted", "t.yaml", bytes.Replace(maconly, []byte("name: maconly"), []byte("name: changed"), 1), []string{"test.agekey"}, ""},
		{"encrypted value moved", "t.yaml", swapLines(types, "password:", "quoted:"), []string{"test.agekey"}, "a value of this SOPS file does not decrypt"},
		{"lastmodified changed", "t.yaml", bytes.Replace(types, []byte(`lastmodified: "20`), []byte(`lastmodified: "19`), 1), []string{"test.agekey"}, "SOPS MAC mismatch"},
		{"one of two key groups", "t.yaml", read("formats/shamir.sops.yaml"), []string{"test.agekey"}, "cannot decrypt this SOPS file (encrypted for age age1"},
		{"wrong key", "t.yaml", types, []string{"other.agekey"}, "cannot decrypt this SOPS file"},
		{"yaml read as dotenv", "t.env", types, []string{"test.agekey"}, "not a valid SOPS file"},
		{"bad ENC value", "t.yaml", bytes.Replace(types, []byte("port: ENC[AES256_GCM,data:"), []byte("port: ENC[AES256_GCM,dat:"), 1), []string{"test.agekey"}, "not a valid SOPS file"},
		{"comment regex", "t.yaml", bytes.Replace(types, []byte("    version: 3.13.3"), []byte("    version: 3.13.3\n    encrypted_comment_regex: sops"), 1), []string{"test.agekey"}, "encrypted_comment_regex"},
		{"plain yaml", "t.yaml", []byte("sops: mac\n"), nil, "-"},
		{"plain env", "t.env", []byte("sops=mac\n"), nil, "-"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := &decrypter{keyFile: testKeyFile(t, tt.keys...)}
			_, secrets, ok, err := d.decrypt(tt.data, tt.file)
			switch tt.want {
			case "-":
				if ok || err != nil {
					t.Errorf("a plain file: ok=%v err=%v", ok, err)
				}
				return
			case "":
				if err != nil || !ok {
					t.Errorf("ok=%v err=%v, want the file to decrypt", ok, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.file) || errs.KindOf(err) != errs.KindInput {
				t.Fatalf("err %v, want bad input naming %s saying %q", err, tt.file, tt.want)
			}
			for _, s := range append(secrets, "s3cr3t", "shamir-secret", "5432") {
				if strings.Contains(err.Error(), s) {
					t.Errorf("the error quotes a value: %v", err)
				}
			}
		})
	}
}

// swapLines exchanges the values of the first lines starting (after
// spaces) with a and b.
func swapLines(data []byte, a, b string) []byte {
	lines := strings.Split(string(data), "\n")
	ia, ib := -1, -1
	for i, l := range lines {
		tl := strings.TrimSpace(l)
		if ia < 0 && strings.HasPrefix(tl, a) {
			ia = i
		}
		if ib < 0 && strings.HasPrefix(tl, b) {
			ib = i
		}
	}
	ka, va, _ := strings.Cut(lines[ia], ": ")
	kb, vb, _ := strings.Cut(lines[ib], ": ")
	lines[ia], lines[ib] = ka+": "+vb, kb+": "+va
	return []byte(strings.Join(lines, "\n"))
}

// FuzzSOPSFile feeds arbitrary files, in every format, to the loader and
// the decryption with a fixed data key: no input panics, and no error
// quotes the input.
func FuzzSOPSFile(f *testing.F) {
	for _, name := range []string{"formats/types.sops.yaml", "formats/types.sops.json", "formats/app.sops.env", "formats/blob.sops.bin", "tampered-mac.sops.yaml"} {
		data, err := os.ReadFile(filepath.Join("testdata", "sops", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, uint8(sopsFormatFor(name)))
	}
	f.Add([]byte("a: ENC[AES256_GCM,data:AA==,iv:AA==,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:int]\nsops: {mac: x, lastmodified: x}\n"), uint8(sopsYAML))
	key := bytes.Repeat([]byte{7}, 32)
	f.Fuzz(func(t *testing.T, data []byte, format uint8) {
		doc, err := loadSOPS(data, sopsFormat(format%4))
		if err != nil {
			return
		}
		if _, _, err := doc.decrypt(key); err != nil {
			return
		}
		doc.storedMAC(key)
		doc.emit()
	})
}

// valueErrors are every message of parseSOPSValue: none depends on the
// value.
var valueErrors = []string{
	"not an ENC[AES256_GCM,...] value", "an encrypted value lacks a field", "an encrypted value has a bad iv or tag",
	"an encrypted value lacks its data", "an encrypted value lacks its iv", "an encrypted value lacks its tag", "an encrypted value lacks its type",
	"an encrypted value's data is not base64", "an encrypted value's iv is not base64", "an encrypted value's tag is not base64",
}

// FuzzSOPSValue: parsing an ENC[...] value never panics, and its errors
// never quote it.
func FuzzSOPSValue(f *testing.F) {
	f.Add("ENC[AES256_GCM,data:e13c8A==,iv:d9cjA/771Z4tSaQNqptiOb6FUrPtU/jLaEFq2wqCwp8=,tag:a4MDso79E3tV9L/tT5Y6Tw==,type:int]")
	f.Add("ENC[AES256_GCM,data:,iv:,tag:,type:]")
	f.Add("ENC[AES256_GCM,data:secretvalue]")
	f.Fuzz(func(t *testing.T, s string) {
		v, err := parseSOPSValue(s)
		if err != nil {
			if !slices.Contains(valueErrors, err.Error()) {
				t.Errorf("an error that may quote the value: %v", err)
			}
			return
		}
		if len(v.tag) != 16 || len(v.iv) == 0 {
			t.Errorf("accepted a value with iv %d bytes, tag %d bytes", len(v.iv), len(v.tag))
		}
		v.open(bytes.Repeat([]byte{1}, 32), "a:")
	})
}
