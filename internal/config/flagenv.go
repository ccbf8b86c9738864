package config

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/envctl/envctl/internal/errs"
)

// FlagEnv is the variable that stands in for a command-line flag that is
// not a setting: ENVCTL_ and the flag's name upper-cased, dashes as
// underscores ("git-timeout" is ENVCTL_GIT_TIMEOUT).
func FlagEnv(flag string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// FlagsFromEnv sets each named flag of fs that the command line did not
// set from its variable (FlagEnv), read with lookup (os.LookupEnv when
// nil), so that a flag on the command line wins over its variable. An
// empty variable counts as unset; a value the flag refuses is bad input
// naming the variable.
func FlagsFromEnv(fs *pflag.FlagSet, names []string, lookup func(string) (string, bool)) error {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	var bad []error
	for _, name := range names {
		f := fs.Lookup(name)
		if f == nil || f.Changed {
			continue
		}
		if v, ok := lookup(FlagEnv(name)); ok && v != "" {
			if err := f.Value.Set(strings.TrimSpace(v)); err != nil {
				bad = append(bad, fmt.Errorf("environment variable %s: %w", FlagEnv(name), err))
			}
		}
	}
	return errs.Input(errors.Join(bad...))
}
