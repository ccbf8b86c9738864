package cluster

import (
	"os"
	"path/filepath"
	"regexp"

	"github.com/envctl/envctl/internal/errs"
)

// MaxNameLength bounds cluster names. Names become parts of longer names
// (kind's "NAME-control-plane" containers and their host names, kubeconfig
// contexts, directories), which must stay within the 63 characters of a
// DNS label.
const MaxNameLength = 40

// DefaultName is the cluster name used when neither a flag nor an
// environment names one: the name the default environment "local" gets.
const DefaultName = "envctl-local"

var nameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// ValidateName checks that name can name a cluster with every provider: a
// DNS label of at most MaxNameLength characters.
func ValidateName(name string) error {
	switch {
	case name == "":
		return errs.Inputf("cluster name is empty")
	case len(name) > MaxNameLength:
		return errs.Inputf("invalid cluster name %q: %d characters, at most %d allowed", name, len(name), MaxNameLength)
	case !nameRE.MatchString(name):
		return errs.Inputf("invalid cluster name %q: use lowercase letters, digits and '-', starting and ending with a letter or digit", name)
	}
	return nil
}

// StateDir is the root of the state envctl keeps about clusters:
// $XDG_STATE_HOME/envctl, by default ~/.local/state/envctl. State is not
// configuration and not cache: losing it loses track of running clusters.
func StateDir() (string, error) {
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "envctl"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", errs.Inputf("find envctl's state directory: set XDG_STATE_HOME or HOME: %v", err)
	}
	return filepath.Join(home, ".local", "state", "envctl"), nil
}

// ClusterDir is where provider keeps the state of cluster name under the
// state root, stateDir (empty means StateDir()). It does not create it.
func ClusterDir(stateDir, provider, name string) (string, error) {
	if stateDir == "" {
		var err error
		if stateDir, err = StateDir(); err != nil {
			return "", err
		}
	}
	return filepath.Join(stateDir, "clusters", provider, name), nil
}
