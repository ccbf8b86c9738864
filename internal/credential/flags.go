package credential

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/envctl/envctl/internal/errs"
)

// The global flags of the operator's chart credentials.
const (
	FlagBindings = "helm-credential"
	FlagFile     = "helm-credentials-file"
)

// BindFlags adds the flags that bind chart repository and registry
// credentials, into bindings and file. No secret is ever a flag's value:
// ps shows flags.
func BindFlags(fs *pflag.FlagSet, bindings *[]string, file *string) {
	fs.StringSliceVar(bindings, FlagBindings, nil,
		"bind the chart repository or registry credential `NAME=HOST`: a release that names NAME (helm.repoAuth.credential) sends it over https to HOST (host[:port]; repeat for more hosts or names) and nowhere else; "+
			"its user name and password come from "+EnvPrefix+"<NAME>_USERNAME and _PASSWORD, a CA from _CA_FILE (env "+EnvBindings+", comma-separated)")
	fs.StringVar(file, FlagFile, "",
		"`FILE` holding chart repository and registry credentials, each with the hosts it may be sent to (kind "+Kind+"; env "+EnvFile+")")
}

// FromFlags reads the operator's chart credentials: the bindings of
// --helm-credential (or its variable), with their values from the
// environment (lookup; os.LookupEnv when nil), and the file of
// --helm-credentials-file (or its variable). A flag wins over its
// variable; a mistake is bad input.
func FromFlags(bindings []string, file string, lookup func(string) (string, bool)) (Set, error) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	from := "--" + FlagBindings
	if len(bindings) == 0 {
		if v, _ := lookup(EnvBindings); strings.TrimSpace(v) != "" {
			bindings, from = strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' }), EnvBindings
		}
	}
	bound, err := FromBindings(bindings, from, lookup)
	if err != nil {
		return nil, errs.Input(err)
	}
	fileFrom := "--" + FlagFile
	if file == "" {
		file, _ = lookup(EnvFile)
		fileFrom = EnvFile
	}
	var fromFile Set
	if file != "" {
		if fromFile, err = ReadFile(file); err != nil {
			return nil, errs.Input(fmt.Errorf("%s: %w", fileFrom, err))
		}
	}
	set, err := Merge(bound, fromFile)
	if err != nil {
		return nil, errs.Input(err)
	}
	return set, nil
}
