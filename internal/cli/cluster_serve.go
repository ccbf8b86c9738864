package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/envctl/envctl/internal/cluster/builtin"
	"github.com/envctl/envctl/internal/ui"
)

// clusterServeOptions are the inputs of `envctl cluster serve`.
type clusterServeOptions struct {
	Name string
	// StateDir is envctl's state root; "" means the default.
	StateDir string
	// ReadyFD is a descriptor inherited from the process that started this
	// one, told "api SERVER" and "usable" as the start progresses; 0 for none.
	ReadyFD int
}

// newClusterServeCmd is the hidden command each embedded cluster runs as:
// `envctl cluster create --provider embedded` starts it detached, and
// `envctl cluster delete` stops it with SIGTERM.
func newClusterServeCmd(f *Factory) *cobra.Command {
	o := &clusterServeOptions{}
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
			o.Name = args[0]
			return runClusterServe(cmd.Context(), f, o)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.StateDir, "state-dir", "", "envctl's state directory (default: $XDG_STATE_HOME/envctl, else ~/.local/state/envctl)")
	fl.IntVar(&o.ReadyFD, "ready-fd", 0, "file descriptor to report readiness on (used by envctl itself)")
	return cmd
}

func runClusterServe(ctx context.Context, f *Factory, o *clusterServeOptions) error {
	if o.ReadyFD < 0 || o.ReadyFD > 0 && o.ReadyFD < 3 {
		return usageError(fmt.Errorf("--ready-fd %d: want a descriptor of 3 or more", o.ReadyFD))
	}
	var ready *os.File
	if o.ReadyFD > 0 {
		var st syscall.Stat_t
		if err := syscall.Fstat(o.ReadyFD, &st); err != nil {
			return usageError(fmt.Errorf("--ready-fd %d: %w", o.ReadyFD, err))
		}
		ready = os.NewFile(uintptr(o.ReadyFD), "ready")
	}
	return builtin.Serve(ctx, builtin.ServeOptions{Name: o.Name, StateDir: o.StateDir, Logger: serveLogger(f), Ready: ready})
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
