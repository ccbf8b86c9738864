package cluster

import (
	"log/slog"
	"slices"
	"strings"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/errs"
)

// Declared is what the cluster commands take from an environment: the
// cluster's name, its spec, and how to reach an existing one.
type Declared struct {
	// Env is the environment the spec came from; "" when none was used.
	Env  string
	Name string
	Spec config.ClusterSpec
	// Settings are the repository's (or, outside one, the defaults with
	// the ENVCTL_* variables and flags of LoadOptions applied).
	Settings config.Settings
}

// LoadDeclared finds the cluster an environment declares, in the
// repository at or above dir. With env set, the repository and that
// environment must load. Without it, the repository's default environment
// is used when there is a repository and that environment exists;
// otherwise the result is empty and callers use defaults, so that the
// cluster commands work outside any repository (dir "" searches from the
// working directory).
func LoadDeclared(dir, env string, log *slog.Logger) (*Declared, error) {
	return LoadDeclaredWith(config.LoadOptions{Dir: dir}, env, log)
}

// LoadDeclaredWith is LoadDeclared with the setting overrides of lo
// (flags, variables) applied.
func LoadDeclaredWith(lo config.LoadOptions, env string, log *slog.Logger) (*Declared, error) {
	repo, err := config.Load(lo)
	if err != nil {
		if env == "" && lo.Dir == "" && noRepository(err) {
			log.Debug("no repository; using default cluster settings", "reason", err)
			s, err := config.Overrides(lo)
			return &Declared{Settings: s}, err
		}
		return nil, err
	}
	if env == "" {
		names, err := repo.EnvironmentNames()
		if err != nil {
			return nil, err
		}
		if !slices.Contains(names, repo.Config.Spec.DefaultEnvironment) {
			return &Declared{Settings: repo.Config.Spec}, nil
		}
	}
	e, err := repo.Environment(env)
	if err != nil {
		return nil, err
	}
	return &Declared{Env: e.Name(), Name: e.ClusterName(), Spec: e.Spec.Cluster, Settings: repo.Config.Spec}, nil
}

// noRepository recognises config.Load's error for a directory with no
// envctl repository above it, the one case in which the cluster commands
// fall back to defaults rather than fail.
func noRepository(err error) bool {
	return errs.KindOf(err) == errs.KindInput && strings.HasPrefix(err.Error(), "no envctl repository found")
}

// Options are opts with what reaches the declared cluster when it is an
// existing one.
func (d *Declared) Options(opts Options) Options {
	if d.Spec.Existing != nil && d.Name != "" {
		opts.Existing = &ExistingTarget{Name: d.Name, ExistingSpec: *d.Spec.Existing}
	}
	return opts
}
