package config

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/pflag"
)

// listValue is a flag of names that may be repeated and comma-separated
// (--component a,b --component c), blanks around the commas ignored and
// each name kept once, the same in every command.
type listValue struct{ p *[]string }

// BindList binds a listValue flag to p, keeping p's current value as the
// default.
func BindList(fs *pflag.FlagSet, p *[]string, name, usage string) {
	fs.Var(listValue{p}, name, usage)
}

func (v listValue) String() string { return "[" + strings.Join(*v.p, ",") + "]" }

// Set adds the comma-separated names of s.
func (v listValue) Set(s string) error {
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			return fmt.Errorf("empty name in %q", s)
		}
		if !slices.Contains(*v.p, name) {
			*v.p = append(*v.p, name)
		}
	}
	return nil
}

// Type is what help shows for the flag's value.
func (v listValue) Type() string { return "strings" }

// GetSlice returns the names, as pflag's slice flags do.
func (v listValue) GetSlice() []string { return slices.Clone(*v.p) }

// Append adds one name, as pflag's slice flags do.
func (v listValue) Append(s string) error { return v.Set(s) }

// Replace sets the names, as pflag's slice flags do.
func (v listValue) Replace(names []string) error {
	*v.p = nil
	for _, n := range names {
		if err := v.Set(n); err != nil {
			return err
		}
	}
	return nil
}
