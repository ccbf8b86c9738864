package cli

import (
	"github.com/envctl/envctl/internal/credential"
)

// readCredentials reads the operator's chart credentials into
// f.Credentials (see credential.FromFlags).
func (f *Factory) readCredentials() error {
	set, err := credential.FromFlags(f.Global.HelmCredentials, f.Global.HelmCredentialsFile, f.lookupEnv)
	if err != nil {
		return err
	}
	f.Credentials = set
	return nil
}
