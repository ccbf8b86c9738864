package render

import (
	"bytes"

	"github.com/envctl/envctl/internal/errs"
)

// decrypter decrypts the SOPS files of components that declare
// decryption. This build cannot decrypt yet: a SOPS file is refused with a
// clear error rather than applied encrypted.
type decrypter struct {
	keyFile string
}

func (d *decrypter) decrypt(data []byte, name string) (plain []byte, secrets []string, ok bool, err error) {
	if bytes.Contains(data, []byte("sops")) && bytes.Contains(data, []byte("ENC[")) {
		return nil, nil, false, errs.Inputf("%s is SOPS-encrypted, and this build of envctl cannot decrypt SOPS files yet", name)
	}
	return nil, nil, false, nil
}
