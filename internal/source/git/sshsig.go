package git

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// allowedSigner is one line of an SSH allowed_signers file (see
// ssh-keygen(1), ALLOWED SIGNERS): principals, options and a public key.
type allowedSigner struct {
	principals string
	key        ssh.PublicKey
	// namespaces, when set, limits what the key may sign; Git signs in the
	// "git" namespace.
	namespaces []string
	// validAfter and validBefore bound when the key was valid, compared
	// with the signed object's date.
	validAfter, validBefore time.Time
	line                    int
}

// parseAllowedSigners reads an allowed_signers file. Certificate
// authorities are refused: envctl checks plain keys only.
func parseAllowedSigners(data []byte, file string) ([]allowedSigner, error) {
	var out []allowedSigner
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		principals, rest, err := cutPrincipals(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", file, n, err)
		}
		key, _, options, _, err := ssh.ParseAuthorizedKey([]byte(rest))
		if err != nil {
			return nil, fmt.Errorf("%s:%d: not an allowed_signers entry (principals, options, key type and key): %v", file, n, err)
		}
		s := allowedSigner{principals: principals, key: key, line: n}
		for _, opt := range options {
			name, val, _ := strings.Cut(opt, "=")
			val = strings.Trim(val, `"`)
			switch strings.ToLower(name) {
			case "namespaces":
				s.namespaces = strings.Split(val, ",")
			case "valid-after":
				if s.validAfter, err = parseSignerTime(val); err != nil {
					return nil, fmt.Errorf("%s:%d: valid-after: %w", file, n, err)
				}
			case "valid-before":
				if s.validBefore, err = parseSignerTime(val); err != nil {
					return nil, fmt.Errorf("%s:%d: valid-before: %w", file, n, err)
				}
			case "cert-authority":
				return nil, fmt.Errorf("%s:%d: cert-authority entries are not supported; list the signing keys themselves", file, n)
			default:
				return nil, fmt.Errorf("%s:%d: unknown option %q", file, n, name)
			}
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no key: want OpenPGP armored public keys or SSH allowed_signers lines", file)
	}
	return out, nil
}

// cutPrincipals splits the principals field, which may be quoted, from the
// rest of an allowed_signers line.
func cutPrincipals(line string) (string, string, error) {
	if strings.HasPrefix(line, `"`) {
		end := strings.Index(line[1:], `"`)
		if end < 0 {
			return "", "", errors.New("unterminated quoted principals")
		}
		return line[1 : end+1], strings.TrimSpace(line[end+2:]), nil
	}
	i := strings.IndexAny(line, " \t")
	if i < 0 {
		return "", "", errors.New("a principals field and no key")
	}
	return line[:i], strings.TrimSpace(line[i:]), nil
}

// parseSignerTime reads YYYYMMDD[HHMM[SS]][Z], as ssh-keygen does (local
// time unless Z).
func parseSignerTime(v string) (time.Time, error) {
	loc := time.Local
	if strings.HasSuffix(v, "Z") {
		loc, v = time.UTC, strings.TrimSuffix(v, "Z")
	}
	for _, layout := range []string{"20060102150405", "200601021504", "20060102"} {
		if len(v) == len(layout) {
			return time.ParseInLocation(layout, v, loc)
		}
	}
	return time.Time{}, fmt.Errorf("%q is not YYYYMMDD[HHMM[SS]][Z]", v)
}

// sshSignature is a parsed SSHSIG blob (see OpenSSH's PROTOCOL.sshsig).
type sshSignature struct {
	key       ssh.PublicKey
	namespace string
	hashAlg   string
	sig       *ssh.Signature
}

const sshSigArmorStart, sshSigArmorEnd = "-----BEGIN SSH SIGNATURE-----", "-----END SSH SIGNATURE-----"

// parseSSHSignature decodes an armored SSH signature.
func parseSSHSignature(armored string) (*sshSignature, error) {
	body := strings.TrimSpace(armored)
	if !strings.HasPrefix(body, sshSigArmorStart) {
		return nil, errors.New("not an SSH signature")
	}
	body = strings.TrimPrefix(body, sshSigArmorStart)
	end := strings.Index(body, sshSigArmorEnd)
	if end < 0 {
		return nil, errors.New("an SSH signature without its end line")
	}
	if rest := strings.TrimSpace(body[end+len(sshSigArmorEnd):]); rest != "" {
		return nil, errors.New("data after the SSH signature")
	}
	raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(body[:end]), ""))
	if err != nil {
		return nil, fmt.Errorf("an SSH signature that is not base64: %w", err)
	}
	if !bytes.HasPrefix(raw, []byte("SSHSIG")) {
		return nil, errors.New("an SSH signature without the SSHSIG magic")
	}
	var blob struct {
		Version   uint32
		PublicKey []byte
		Namespace string
		Reserved  string
		HashAlg   string
		Signature []byte
	}
	if err := ssh.Unmarshal(raw[6:], &blob); err != nil {
		return nil, fmt.Errorf("a malformed SSH signature: %w", err)
	}
	if blob.Version != 1 {
		return nil, fmt.Errorf("an SSH signature of version %d; this envctl reads version 1", blob.Version)
	}
	key, err := ssh.ParsePublicKey(blob.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("an SSH signature with an unreadable key: %w", err)
	}
	var sig struct {
		Format string
		Blob   []byte
		Rest   []byte `ssh:"rest"`
	}
	if err := ssh.Unmarshal(blob.Signature, &sig); err != nil {
		return nil, fmt.Errorf("a malformed SSH signature: %w", err)
	}
	return &sshSignature{
		key: key, namespace: blob.Namespace, hashAlg: blob.HashAlg,
		sig: &ssh.Signature{Format: sig.Format, Blob: sig.Blob, Rest: sig.Rest},
	}, nil
}

// verify checks that s signs message in namespace with its key.
func (s *sshSignature) verify(message []byte, namespace string) error {
	if s.namespace != namespace {
		return fmt.Errorf("signed in the namespace %q, not %q", s.namespace, namespace)
	}
	var digest []byte
	switch s.hashAlg {
	case "sha256":
		d := sha256.Sum256(message)
		digest = d[:]
	case "sha512":
		d := sha512.Sum512(message)
		digest = d[:]
	default:
		return fmt.Errorf("an unsupported hash algorithm %q", s.hashAlg)
	}
	signed := append([]byte("SSHSIG"), ssh.Marshal(struct {
		Namespace string
		Reserved  string
		HashAlg   string
		Hash      []byte
	}{namespace, "", s.hashAlg, digest})...)
	if err := s.key.Verify(signed, s.sig); err != nil {
		return errors.New("the SSH signature does not match the object")
	}
	return nil
}

// allows reports whether signer may have made a Git signature at when.
func (a allowedSigner) allows(when time.Time) error {
	if len(a.namespaces) > 0 {
		ok := false
		for _, ns := range a.namespaces {
			if ns == "git" || ns == "*" {
				ok = true
			}
		}
		if !ok {
			return fmt.Errorf("the key (line %d) may not sign in the git namespace", a.line)
		}
	}
	if !a.validAfter.IsZero() && when.Before(a.validAfter) {
		return fmt.Errorf("the key (line %d) is valid only after %s", a.line, a.validAfter.Format(time.RFC3339))
	}
	if !a.validBefore.IsZero() && !when.Before(a.validBefore) {
		return fmt.Errorf("the key (line %d) expired at %s", a.line, a.validBefore.Format(time.RFC3339))
	}
	return nil
}
