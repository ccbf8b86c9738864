package cli

import (
	"fmt"
	"strconv"

	"github.com/spf13/pflag"

	"github.com/envctl/envctl/internal/cluster/kubeconfig"
)

// currentFlag is --set-context of the commands that write a context. Left
// out, the kubeconfig rules decide (the context becomes current only when
// the kubeconfig has none); given, it forces the choice either way.
type currentFlag struct {
	set   bool
	value bool
}

func (c *currentFlag) bind(fs *pflag.FlagSet, usage string) {
	fs.Var(c, "set-context", usage)
	fs.Lookup("set-context").NoOptDefVal = "true"
}

// String is the value help shows; unset shows as false, the usage text
// saying what happens then.
func (c *currentFlag) String() string { return strconv.FormatBool(c.set && c.value) }

// Set parses --set-context=BOOL.
func (c *currentFlag) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("want true or false, got %q", s)
	}
	c.set, c.value = true, v
	return nil
}

// Type makes pflag treat the flag as a boolean in help and parsing.
func (c *currentFlag) Type() string { return "bool" }

// rule is the kubeconfig rule the flag asks for.
func (c currentFlag) rule() kubeconfig.Current {
	switch {
	case !c.set:
		return kubeconfig.CurrentIfUnset
	case c.value:
		return kubeconfig.CurrentAlways
	}
	return kubeconfig.CurrentNever
}
