package cli

import (
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/envctl/envctl/internal/cluster/builtin"
	"github.com/envctl/envctl/internal/ui"
)

// newClusterServeCmd is the hidden command each embedded cluster runs as:
// `envctl cluster create --provider embedded` starts it detached, and
// `envctl cluster delete` stops it with SIGTERM.
func newClusterServeCmd(f *Factory) *cobra.Command {
	o := &builtin.ServeOptions{}
	cmd := &cobra.Command{
		Annotations: map[string]string{annotationStopsOnSignal: "true"},
		Use:         "serve NAME",
		Short:       "Run an embedded cluster's control plane in the foreground",
		Hidden:      true,
		Long: `Run the control plane of an embedded cluster, created before with
envctl cluster create NAME --provider embedded, in the foreground until
SIGTERM or SIGINT, then stop it cleanly.

envctl runs this command itself, detached, for every embedded cluster it
creates; its log goes to serve.log in the cluster's state directory. Run it
by hand to watch a stopped cluster's log in the terminal.`,
		Example: `  # Serve a stopped cluster in the terminal, with the components' debug logs
  envctl cluster serve envctl-local -vv`,
		Args: argsValidator(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name, o.Logger = args[0], serveLogger(f)
			return builtin.Serve(cmd.Context(), *o)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.StateDir, "state-dir", "", "envctl's state directory (default: $XDG_STATE_HOME/envctl, else ~/.local/state/envctl)")
	fl.IntVar(&o.ReadyFD, "ready-fd", 0, "file descriptor to report readiness on (used by envctl itself)")
	return cmd
}

// serveLogger logs at info level by default, unlike other commands: the
// serve process writes to its log file, which is read when something went
// wrong, and its own messages (started, port changed, stopped) are few.
func serveLogger(f *Factory) *slog.Logger {
	if f.Global.Verbosity > 0 {
		return f.Logger
	}
	return ui.NewLogger(f.Streams.ErrOut, 1, f.Global.LogFormat)
}
