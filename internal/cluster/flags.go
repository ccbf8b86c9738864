package cluster

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"

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

// FindForEnv loads the cluster environment env declares, in the
// repository at or above repo (see LoadDeclared), and finds the provider
// (provider, "" for whichever) that has cluster name ("" for the declared
// cluster's, else DefaultName). It returns the cluster's name too.
func FindForEnv(ctx context.Context, repo, env, provider, name string, opts Options, log *slog.Logger) (Provider, string, error) {
	d, err := LoadDeclared(repo, env, log)
	if err != nil {
		return nil, "", err
	}
	name = cmp.Or(name, d.Name, DefaultName)
	p, err := FindProvider(ctx, provider, name, d.Options(opts))
	return p, name, err
}

// EnsureOptionsFor are the options of Ensure for environment env under
// the cluster settings s (cluster.timeout, cluster.runtimeWait).
func EnsureOptionsFor(s config.ClusterSettings, env string, opts Options, progress Progress, adopt bool) EnsureOptions {
	opts.RuntimeWait = s.RuntimeWait.Duration
	return EnsureOptions{Options: opts, Progress: progress, Timeout: s.Timeout.Duration, Env: env, Adopt: adopt}
}
