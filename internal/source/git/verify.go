package git

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"golang.org/x/crypto/ssh"
)

// Keys are the public keys a commit or tag must be signed by: OpenPGP
// armored public keys, or SSH keys in the allowed_signers format that Git's
// gpg.ssh.allowedSignersFile uses.
type Keys struct {
	file    string
	openpgp openpgp.EntityList
	ssh     []allowedSigner
}

// LoadKeys reads a keys file (--verify-signatures).
func LoadKeys(file string) (*Keys, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--verify-signatures: %w", err)
	}
	return ParseKeys(data, file)
}

// ParseKeys reads the keys in data, which came from file (named in errors).
func ParseKeys(data []byte, file string) (*Keys, error) {
	k := &Keys{file: file}
	if bytes.Contains(data, []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----")) {
		list, err := readArmoredKeys(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		k.openpgp = list
		return k, nil
	}
	signers, err := parseAllowedSigners(data, file)
	if err != nil {
		return nil, err
	}
	k.ssh = signers
	return k, nil
}

// readArmoredKeys reads every armored key block in data.
func readArmoredKeys(data []byte) (openpgp.EntityList, error) {
	var all openpgp.EntityList
	const begin = "-----BEGIN PGP PUBLIC KEY BLOCK-----"
	text := string(data)
	for {
		i := strings.Index(text, begin)
		if i < 0 {
			break
		}
		text = text[i:]
		end := strings.Index(text, "-----END PGP PUBLIC KEY BLOCK-----")
		if end < 0 {
			return nil, errors.New("an OpenPGP key block without its end line")
		}
		end += len("-----END PGP PUBLIC KEY BLOCK-----")
		list, err := openpgp.ReadArmoredKeyRing(strings.NewReader(text[:end]))
		if err != nil {
			return nil, fmt.Errorf("an OpenPGP key block that does not parse: %w", err)
		}
		all = append(all, list...)
		text = text[end:]
	}
	if len(all) == 0 {
		return nil, errors.New("no OpenPGP key")
	}
	return all, nil
}

// SignatureError is a commit or tag that is not signed by one of the keys.
type SignatureError struct {
	// Object is "commit <hex>" or "tag v1.2.3 (<hex>)".
	Object string
	// Reason says why the signature was not accepted.
	Reason string
}

func (e *SignatureError) Error() string {
	return fmt.Sprintf("%s: %s", e.Object, e.Reason)
}

// verifyCommit checks c's signature.
func (k *Keys) verifyCommit(c *object.Commit) error {
	name := "commit " + c.Hash.String()
	if c.PGPSignature == "" {
		return &SignatureError{Object: name, Reason: "not signed; --verify-signatures requires a signature by one of the keys in " + k.file}
	}
	obj := &plumbing.MemoryObject{}
	if err := c.EncodeWithoutSignature(obj); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return k.verify(name, c.PGPSignature, obj, c.Committer.When)
}

// verifyTag checks t's signature.
func (k *Keys) verifyTag(t *object.Tag) error {
	name := fmt.Sprintf("tag %s (%s)", t.Name, t.Hash)
	if t.PGPSignature == "" {
		return &SignatureError{Object: name, Reason: "not signed; --verify-signatures requires a signature by one of the keys in " + k.file}
	}
	obj := &plumbing.MemoryObject{}
	if err := t.EncodeWithoutSignature(obj); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return k.verify(name, t.PGPSignature, obj, t.Tagger.When)
}

func (k *Keys) verify(name, signature string, obj *plumbing.MemoryObject, when time.Time) error {
	r, err := obj.Reader()
	if err != nil {
		return err
	}
	message, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	reject := func(format string, args ...any) error {
		return &SignatureError{Object: name, Reason: fmt.Sprintf(format, args...)}
	}
	sig := strings.TrimSpace(signature)
	if strings.Count(sig, "-----BEGIN ") != 1 {
		return reject("its signature holds more than one signature block")
	}
	switch {
	case strings.HasPrefix(sig, sshSigArmorStart):
		if len(k.ssh) == 0 {
			return reject("signed with an SSH key, but %s holds OpenPGP keys", k.file)
		}
		s, err := parseSSHSignature(sig)
		if err != nil {
			return reject("%v", err)
		}
		var found *allowedSigner
		for i := range k.ssh {
			if bytes.Equal(k.ssh[i].key.Marshal(), s.key.Marshal()) {
				found = &k.ssh[i]
				break
			}
		}
		if found == nil {
			return reject("signed by the SSH key %s, which is not in %s", ssh.FingerprintSHA256(s.key), k.file)
		}
		if err := found.allows(when); err != nil {
			return reject("%v", err)
		}
		if err := s.verify(message, "git"); err != nil {
			return reject("%v", err)
		}
		return nil
	case strings.HasPrefix(sig, "-----BEGIN PGP SIGNATURE-----"):
		if len(k.openpgp) == 0 {
			return reject("signed with OpenPGP, but %s holds SSH keys", k.file)
		}
		_, err := openpgp.CheckArmoredDetachedSignature(k.openpgp, bytes.NewReader(message), strings.NewReader(signature), nil)
		if err != nil {
			return reject("the OpenPGP signature is not by a key in %s, or does not match (%v)", k.file, err)
		}
		return nil
	}
	return reject("signed in a format this envctl does not verify (X.509?)")
}
