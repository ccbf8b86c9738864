package git

import (
	"fmt"
	"os"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/envctl/envctl/internal/errs"
)

// Inputs are a Git source as a command line names it: the Options its
// flags set as they are, and the inputs that must be read or parsed
// first (a password file, sizes such as 512Mi, a file of signing keys).
type Inputs struct {
	Options
	// PasswordFile is a file holding the password or token.
	PasswordFile string
	// PasswordFromEnv is the password taken from the variable PasswordEnv.
	PasswordFromEnv, PasswordEnv string
	// VerifySignatures is a file of allowed signers or OpenPGP keys.
	VerifySignatures string
	// MaxSize and MaxFileSize bound the tree and each file, as quantities.
	MaxSize, MaxFileSize string
}

// Open checks the inputs, reads and parses what they point to, and
// returns the Source. Every problem with the inputs is bad input named
// after its flag (--git-password-file, --git-max-size, ...).
func (in Inputs) Open() (*Source, error) {
	opts := in.Options
	if opts.Timeout <= 0 {
		return nil, errs.Inputf("--git-timeout must be positive, got %s", opts.Timeout)
	}
	if err := in.password(&opts.Auth); err != nil {
		return nil, err
	}
	if err := in.limits(&opts.Limits); err != nil {
		return nil, err
	}
	if in.VerifySignatures != "" {
		var err error
		if opts.Keys, err = LoadKeys(in.VerifySignatures); err != nil {
			return nil, errs.Input(err)
		}
	}
	return New(opts)
}

// password reads the password or token from its one place.
func (in Inputs) password(a *Auth) error {
	switch {
	case in.PasswordFile != "" && in.PasswordFromEnv != "":
		return errs.Inputf("both %s and --git-password-file are set; give the password once", in.PasswordEnv)
	case in.PasswordFile != "":
		data, err := os.ReadFile(in.PasswordFile)
		if err != nil {
			return errs.Input(fmt.Errorf("--git-password-file: %w", err))
		}
		a.Password = strings.TrimRight(string(data), "\r\n")
		a.PasswordFrom = "--git-password-file " + in.PasswordFile
		if a.Password == "" {
			return errs.Inputf("--git-password-file %s is empty", in.PasswordFile)
		}
	case in.PasswordFromEnv != "":
		a.Password, a.PasswordFrom = in.PasswordFromEnv, in.PasswordEnv
	}
	return nil
}

// limits parses the size inputs, quantities such as 512Mi, into l.
func (in Inputs) limits(l *Limits) error {
	for _, q := range []struct {
		flag, val string
		dst       *int64
	}{{"git-max-size", in.MaxSize, &l.TotalBytes}, {"git-max-file-size", in.MaxFileSize, &l.FileBytes}} {
		v, err := resource.ParseQuantity(q.val)
		if err != nil || v.Sign() <= 0 {
			return errs.Inputf("--%s %q is not a positive size such as 512Mi or 2G", q.flag, q.val)
		}
		*q.dst = v.Value()
	}
	if l.Files <= 0 {
		return errs.Inputf("--git-max-files must be positive, got %d", l.Files)
	}
	return nil
}
