// Package cli is envctl's command line: it parses flags, calls the engine
// and the packages beside it, prints through internal/ui and maps errors to
// exit codes. Each command (or group of commands, such as cluster's) has a
// file, and each command is built by a newXCmd function from a Factory,
// with an options struct so that flag parsing can be tested apart from the
// work the command does.
package cli

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/envctl/envctl/internal/credential"
	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/interrupt"
	"github.com/envctl/envctl/internal/sopskeys"
	"github.com/envctl/envctl/internal/ui"
)

// Factory holds what every command needs: streams, global options and the
// logger. Commands take it rather than reaching for globals.
type Factory struct {
	Streams IOStreams
	Global  *GlobalOptions
	// Logger is set up from the global flags before any command runs.
	Logger *slog.Logger
	// Credentials are the operator's chart repository and registry
	// credentials, read from the global flags before any command runs.
	Credentials credential.Set
	// lookupEnv reads the credentials' variables; os.LookupEnv unless a
	// test sets it.
	lookupEnv func(string) (string, bool)
}

// GlobalOptions are the flags every command accepts.
type GlobalOptions struct {
	// Repo is the repository root (or a directory inside it).
	Repo      string
	Verbosity int
	LogFormat string
	NoColor   bool
	// DecryptionKeyFile holds keys for the SOPS files of components that
	// decrypt, besides SOPS_AGE_KEY and SOPS_AGE_KEY_FILE.
	DecryptionKeyFile string
	// SOPSKeyServices are sops key services (--sops-keyservice) asked for
	// the SOPS data keys no local key opens: cloud KMS, Vault.
	SOPSKeyServices []string
	// HelmCredentials bind credential names to hosts (NAME=HOST); the
	// values come from ENVCTL_HELM_CREDENTIAL_<NAME>_* variables.
	HelmCredentials []string
	// HelmCredentialsFile holds whole bindings, values included.
	HelmCredentialsFile string
}

// Main runs envctl with args and returns the process exit code. Errors are
// printed once, here.
//
// Ctrl-C (SIGINT) or SIGTERM stops the command cleanly (see interrupt.Watcher):
// the exit code is then 130 or 143, whatever the command's error, except
// for the long-running commands (sync, daemon, cluster serve), for which a
// signal is the normal way to stop: they exit 0 when they stopped cleanly.
func Main(args []string, streams IOStreams) int {
	in := interrupt.Watch(streams.ErrOut)
	defer in.Stop()

	f := &Factory{Streams: streams, Global: &GlobalOptions{}}
	root := NewRootCmd(f)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(in.Context())
	if err != nil && errs.KindOf(err) == errs.KindUnknown && strings.HasPrefix(err.Error(), "unknown command ") {
		// cobra reports a mistyped command with a plain error.
		err = usageError(fmt.Errorf("%w\nRun 'envctl --help' for the list of commands", err))
	}
	code := ExitCode(err)
	if err != nil && err.Error() != "" {
		fmt.Fprintf(streams.ErrOut, "Error: %v\n", err)
	}
	if sig := in.Signal(); sig != nil && !(err == nil && stopsOnSignal(cmd)) {
		fmt.Fprintf(streams.ErrOut, "Interrupted by %s.\n", interrupt.SignalName(sig))
		code = interrupt.ExitCode(sig)
	}
	return code
}

// annotationStopsOnSignal marks a command that runs until a signal stops
// it: a clean stop then exits 0, as a service manager expects.
const annotationStopsOnSignal = "envctl.dev/stops-on-signal"

func stopsOnSignal(cmd *cobra.Command) bool {
	return cmd != nil && cmd.Annotations[annotationStopsOnSignal] == "true"
}

// NewRootCmd builds the envctl command tree.
func NewRootCmd(f *Factory) *cobra.Command {
	// Kubernetes packages compiled in for the embedded control plane register
	// their own flags (--version among them) on pflag's global set, which
	// cobra would merge into ours. envctl's flags are its own.
	pflag.CommandLine = pflag.NewFlagSet("envctl", pflag.ContinueOnError)

	root := &cobra.Command{
		Use:   "envctl",
		Short: "Bring up declared Kubernetes environments",
		Long: `envctl renders the environments declared in a repository (kustomize overlays
and Helm releases), applies them with server-side apply in dependency order,
waits until they are healthy and prunes what is no longer declared.`,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			useLogger(f, ui.NewLogger(f.Streams.ErrOut, f.Global.Verbosity, f.Global.LogFormat))
			f.Global.NoColor = f.Global.NoColor || f.env("NO_COLOR") != ""
			// Read once, before anything is fetched or rendered, so that a
			// binding's mistake stops the command before any request.
			return f.readCredentials()
		},
	}
	root.SetVersionTemplate("envctl {{.Version}}\n")
	root.SetIn(f.Streams.In)
	root.SetOut(f.Streams.Out)
	root.SetErr(f.Streams.ErrOut)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return usageError(err)
	})

	pf := root.PersistentFlags()
	pf.StringVarP(&f.Global.Repo, "repo", "C", "", "repository root, or a directory inside it (default: search upwards from the working directory for config.yaml)")
	pf.CountVarP(&f.Global.Verbosity, "verbose", "v", "log more; repeat for more detail (-vv)")
	pf.StringVar(&f.Global.LogFormat, "log-format", "text", "log format: text or json")
	pf.BoolVar(&f.Global.NoColor, "no-color", false, "disable colour and live progress (also: NO_COLOR set and not empty)")
	pf.StringVar(&f.Global.DecryptionKeyFile, "decryption-key-file", "", "file of age identities or OpenPGP private keys for SOPS-encrypted files, tried before the keys sops itself finds ($SOPS_AGE_KEY_FILE, $SOPS_AGE_KEY, $SOPS_AGE_KEY_CMD, ~/.config/sops/age/keys.txt, SSH keys)")
	pf.Var(sopskeys.AddressesFlag{Addrs: &f.Global.SOPSKeyServices}, "sops-keyservice", "sops key service (tcp://host:port or unix:///path, as sops --keyservice) asked for SOPS data keys no local key opens, e.g. cloud KMS or Vault; repeatable")
	credential.BindFlags(pf, &f.Global.HelmCredentials, &f.Global.HelmCredentialsFile)

	root.AddCommand(
		newVersionCmd(f),
		newUpCmd(f),
		newApplyCmd(f),
		newConfigCmd(f),
		newRenderCmd(f),
		newClusterCmd(f),
		newDiffCmd(f),
		newStatusCmd(f),
		newDownCmd(f),
		newSyncCmd(f),
		newDaemonCmd(f),
		newReconcileCmd(f),
		newSuspendCmd(f),
		newResumeCmd(f),
		newTestCmd(f),
		newInventoryCmd(f),
	)
	return root
}

// useLogger makes logger f's, with klog and the standard logger routed
// into it (ui.RouteLogs).
func useLogger(f *Factory, logger *slog.Logger) {
	f.Logger = logger
	ui.RouteLogs(logger)
}

// env reads a variable of the process (through lookupEnv in tests).
func (f *Factory) env(name string) string {
	lookup := f.lookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	v, _ := lookup(name)
	return v
}

// warn prints a warning, such as a deprecation, on the error stream.
func (f *Factory) warn(msg string) {
	fmt.Fprintf(f.Streams.ErrOut, "Warning: %s\n", msg)
}

// usageError marks a flag or argument error as bad input.
func usageError(err error) error {
	return errs.Input(err)
}

// argsValidator wraps a cobra argument check so that its failure is bad input.
func argsValidator(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return errs.Input(fmt.Errorf("%w\nSee '%s --help'", err, cmd.CommandPath()))
		}
		return nil
	}
}

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
			if err := checkOutput(output, outputs("text")...); err != nil {
				return err
			}
			return ui.WriteVersion(f.Streams.Out, output, ui.NewVersionInfo(version))
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text, json or yaml")
	return cmd
}
