package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/envctl/envctl/internal/credential"
	"github.com/envctl/envctl/internal/errs"
)

// The global flags of the operator's chart credentials.
const (
	flagHelmCredential      = "helm-credential"
	flagHelmCredentialsFile = "helm-credentials-file"
)

// bindCredentialFlags adds the flags that bind chart repository and
// registry credentials. No secret is ever a flag's value: ps shows flags.
func bindCredentialFlags(fs *pflag.FlagSet, g *GlobalOptions) {
	fs.StringSliceVar(&g.HelmCredentials, flagHelmCredential, nil,
		"bind the chart repository or registry credential `NAME=HOST`: a release that names NAME (helm.repoAuth.credential) sends it over https to HOST (host[:port]; repeat for more hosts or names) and nowhere else; "+
			"its user name and password come from "+credential.EnvPrefix+"<NAME>_USERNAME and _PASSWORD, a CA from _CA_FILE (env "+credential.EnvBindings+", comma-separated)")
	fs.StringVar(&g.HelmCredentialsFile, flagHelmCredentialsFile, "",
		"`FILE` holding chart repository and registry credentials, each with the hosts it may be sent to (kind "+credential.Kind+"; env "+credential.EnvFile+")")
}

// readCredentials reads the operator's chart credentials into
// f.Credentials: the bindings of --helm-credential (or its variable), with
// their values from the environment, and the file of
// --helm-credentials-file (or its variable). A flag wins over its variable.
func (f *Factory) readCredentials() error {
	lookup := f.lookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	bindings, from := f.Global.HelmCredentials, "--"+flagHelmCredential
	if len(bindings) == 0 {
		if v, _ := lookup(credential.EnvBindings); strings.TrimSpace(v) != "" {
			bindings, from = strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' }), credential.EnvBindings
		}
	}
	bound, err := credential.FromBindings(bindings, from, lookup)
	if err != nil {
		return errs.Input(err)
	}
	file, fileFrom := f.Global.HelmCredentialsFile, "--"+flagHelmCredentialsFile
	if file == "" {
		file, _ = lookup(credential.EnvFile)
		fileFrom = credential.EnvFile
	}
	var fromFile credential.Set
	if file != "" {
		if fromFile, err = credential.ReadFile(file); err != nil {
			return errs.Input(fmt.Errorf("%s: %w", fileFrom, err))
		}
	}
	set, err := credential.Merge(bound, fromFile)
	if err != nil {
		return errs.Input(err)
	}
	f.Credentials = set
	return nil
}
