package cli

import (
	"github.com/spf13/cobra"

	"github.com/envctl/envctl/internal/ui"
)

// version is set at build time with -ldflags "-X ...cli.version=v0.1.0".
var version = "dev"

func newVersionCmd(f *Factory) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the envctl version",
		Args:  argsValidator(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output == "" {
				output = "text"
			}
			if err := checkOutput(output, "text", "json"); err != nil {
				return err
			}
			return ui.WriteVersion(f.Streams.Out, output, ui.NewVersionInfo(version))
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}
