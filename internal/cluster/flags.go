package cluster

import (
	"cmp"
	"fmt"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/errs"
)

// CreateFlags are what `envctl cluster create`'s flags change in the
// declared cluster.
type CreateFlags struct {
	// Name, when set, replaces the declared cluster's name.
	Name string
	// Provider replaces the declared provider when ProviderSet.
	Provider    string
	ProviderSet bool
	// WaitSet says that the timeout came from --wait rather than
	// cluster.timeout.
	WaitSet bool
	// Registry gives a kind cluster a local registry.
	Registry bool
}

// WithFlags is c for creating d as the flags fl say: the timeout from
// cluster.timeout unless --wait gave one (a negative one is bad input),
// and the registry, name and provider overrides applied to d, which it
// takes along with its provider settings.
func (c CreateOptions) WithFlags(d *Declared, fl CreateFlags) (CreateOptions, error) {
	if !fl.WaitSet {
		c.Timeout, c.TimeoutFlag = d.Settings.Cluster.Timeout.Duration, "--cluster-timeout"
	} else {
		c.TimeoutFlag = "--wait"
	}
	if c.Timeout < 0 {
		return c, errs.Input(fmt.Errorf("%s %v: want a positive duration, or 0 for no limit", c.TimeoutFlag, c.Timeout))
	}
	if fl.Registry {
		d.Spec.Kind = cmp.Or(d.Spec.Kind, &config.KindSpec{})
		d.Spec.Kind.Registry = &config.KindRegistry{Enabled: true}
	}
	if fl.Name != "" {
		d.Name = fl.Name
	}
	if fl.ProviderSet {
		d.Spec.Provider = fl.Provider
	}
	c.Declared = *d
	c.Options.RuntimeWait = d.Settings.Cluster.RuntimeWait.Duration
	return c, nil
}
