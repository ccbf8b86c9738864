package sopskeys

import "strings"

// AddressesFlag is a repeatable, comma-separated flag (pflag.Value) of
// sops key service addresses, each checked as it is parsed.
type AddressesFlag struct{ Addrs *[]string }

func (k AddressesFlag) String() string { return strings.Join(*k.Addrs, ",") }

// Type names the flag's values in help.
func (k AddressesFlag) Type() string { return "addresses" }

// Set checks and appends each address of v.
func (k AddressesFlag) Set(v string) error {
	for _, a := range strings.Split(v, ",") {
		if _, _, err := ParseAddress(a); err != nil {
			return err
		}
		*k.Addrs = append(*k.Addrs, a)
	}
	return nil
}
