package cli

import (
	"context"

	"github.com/spf13/pflag"

	"github.com/envctl/envctl/internal/cluster"
	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/engine"
	"github.com/envctl/envctl/internal/source"
	"github.com/envctl/envctl/internal/source/sourceflags"
)

// sourceFlags say where the declared state comes from (see
// sourceflags.Flags). Every command that reads the declared state loads it
// through load, which hands the opened source to the engine's loader.
type sourceFlags struct {
	sourceflags.Flags
}

// open returns the source the flags name, the local one found from -C.
func (s *sourceFlags) open(f *Factory) (source.Source, error) {
	return s.Open(f.Global.Repo, f.Streams.ErrOut, f.Logger)
}

// load opens the source and loads environment env ("" for the default
// one) from it through the engine's loader, with the setting overrides of
// settings, checking that components exist. progress, when set, shows the
// fetch of a Git source as a step.
func (s *sourceFlags) load(ctx context.Context, f *Factory, env string, settings *pflag.FlagSet, components []string, progress cluster.Progress) (*engine.Declared, error) {
	src, err := s.open(f)
	if err != nil {
		return nil, err
	}
	lo := s.loadOptions(f, src, env, settings, components)
	if progress != nil {
		lo.OnFetch = progress.Step
	}
	return engine.Load(ctx, lo)
}

// loadOptions are the engine's options for loading env from src.
func (s *sourceFlags) loadOptions(f *Factory, src source.Source, env string, settings *pflag.FlagSet, components []string) engine.LoadOptions {
	return engine.LoadOptions{
		Source:      src,
		Environment: env,
		Config:      config.LoadOptions{Flags: settings, LookupEnv: s.LookupEnv, Warn: f.warn},
		Components:  components,
		Instance:    s.Instance,
		Logger:      f.Logger,
	}
}
