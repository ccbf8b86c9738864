package cli

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/ui"
)

// newConfigCmd groups the commands that inspect envctl's own configuration.
func newConfigCmd(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Inspect envctl's configuration",
		Args:  argsValidator(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(newConfigViewCmd(f))
	return cmd
}

// configViewOptions are the inputs of `envctl config view`.
type configViewOptions struct {
	// Env is the environment to show as well; "" shows the settings only.
	Env    string
	Output string
	// ShowOrigin annotates each setting with where its value came from.
	ShowOrigin bool
	// Flags holds the setting override flags, passed on to config.Load.
	Flags *pflag.FlagSet
}

var configViewLong = `Print the effective configuration: the repo-wide settings from config.yaml
after defaults, ENVCTL_* environment variables and flags, and, given ENV, that
environment with every default filled in.

Each setting is taken from, in increasing precedence: its default, config.yaml,
its environment variable, its flag. The variable is ENVCTL_ followed by the
setting's path upper-cased with "." as "_"; the flag is the path in kebab case
with "." as "-". An empty variable counts as unset.

` + config.SettingsTable() + `
YAML output is the settings document, then (with ENV) a second document with
the environment. JSON output is one object: {"config": ..., "environment": ...}.`

const configViewExample = `  # The effective settings of the repository in the working directory
  envctl config view

  # The default environment, with defaults filled in, as JSON
  envctl config view local -o json

  # See where each setting comes from, with an override in place
  ENVCTL_APPLY_CONCURRENCY=4 envctl config view --show-origin --prune-max-fraction 0.2`

func newConfigViewCmd(f *Factory) *cobra.Command {
	o := &configViewOptions{}
	cmd := &cobra.Command{
		Use:     "view [ENV]",
		Short:   "Print the effective configuration",
		Long:    configViewLong,
		Example: configViewExample,
		Args:    argsValidator(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.Env = args[0]
			}
			o.Flags = cmd.Flags()
			return runConfigView(f, o)
		},
	}
	cmd.Flags().StringVarP(&o.Output, "output", "o", "yaml", "output format: yaml or json")
	cmd.Flags().BoolVar(&o.ShowOrigin, "show-origin", false, "annotate each setting with where its value came from (YAML only)")
	config.BindFlags(cmd.Flags())
	return cmd
}

func runConfigView(f *Factory, o *configViewOptions) error {
	if err := checkOutput(o.Output, "yaml", "json"); err != nil {
		return err
	}
	if o.ShowOrigin && o.Output == "json" {
		return usageError(fmt.Errorf("--show-origin applies to YAML output only"))
	}
	repo, err := config.Load(config.LoadOptions{Dir: f.Global.Repo, Flags: o.Flags, Warn: f.warn})
	if err != nil {
		return err
	}
	view := config.View{Config: repo.Config}
	if o.Env != "" {
		if view.Environment, err = repo.Environment(o.Env); err != nil {
			return err
		}
	}
	var origins *config.Repo
	if o.ShowOrigin {
		origins = repo
	}
	return ui.WriteConfigView(f.Streams.Out, o.Output, view, origins)
}
