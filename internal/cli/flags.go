package cli

import (
	"context"
	"errors"
	"strings"

	"github.com/spf13/pflag"

	"github.com/envctl/envctl/internal/cluster"
	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/engine"
	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/kube"
)

// kubeconfigWriteUsage is the help of --kubeconfig where envctl writes a
// context.
const kubeconfigWriteUsage = "kubeconfig file to write the context to (default: kubectl's: $KUBECONFIG, a list of files too, else ~/.kube/config)"

// clusterFlags point a command at a cluster through a kubeconfig instead of
// the environment's own cluster.
type clusterFlags struct {
	Kubeconfig string
	Context    string
}

func (c *clusterFlags) bind(fs *pflag.FlagSet) {
	fs.StringVar(&c.Kubeconfig, "kubeconfig", "", "use the cluster of this kubeconfig file instead of the environment's own cluster (default file: $KUBECONFIG, a list of files too, else ~/.kube/config)")
	fs.StringVar(&c.Context, "context", "", "kubeconfig context to use (with or without --kubeconfig)")
}

func (c clusterFlags) set() bool { return c.Kubeconfig != "" || c.Context != "" }

// envFlags are the inputs every command that works on one environment
// takes: ENV, -o, where the declared state comes from, and a cluster to
// reach instead of the environment's own.
type envFlags struct {
	Env     string
	Output  string
	Cluster clusterFlags
	Source  sourceFlags
	// formats are the -o values the command takes, the default first.
	formats []string
}

// bind adds -o, taking formats (the first the default), and the cluster
// and source flags.
func (e *envFlags) bind(fs *pflag.FlagSet, formats ...string) {
	e.formats = formats
	fs.StringVarP(&e.Output, "output", "o", formats[0], "output format: "+strings.Join(formats[:len(formats)-1], ", ")+" or "+formats[len(formats)-1])
	e.Cluster.bind(fs)
	e.Source.Bind(fs)
	e.Source.BindInstance(fs)
}

// args takes ENV from the command's arguments and checks -o.
func (e *envFlags) args(args []string) error {
	if len(args) == 1 {
		e.Env = args[0]
	}
	return checkOutput(e.Output, e.formats...)
}

// open loads the environment (with the setting overrides of settings, and
// components checked) and reaches its cluster, as connect does. The
// environment is nil only when it did not load.
func (e *envFlags) open(ctx context.Context, f *Factory, settings *pflag.FlagSet, components []string) (*engine.Declared, *cluster.Target, *kube.Client, error) {
	d, err := e.Source.load(ctx, f, e.Env, settings, components, nil)
	if err != nil {
		return nil, nil, nil, err
	}
	t, client, err := connect(ctx, f, d.Env, e.Cluster)
	return d, t, client, err
}

// missingAs classifies err with kind when it says that the environment's
// cluster does not exist.
func missingAs(err error, kind func(error) error) error {
	var missing *cluster.MissingError
	if errors.As(err, &missing) {
		return kind(err)
	}
	return err
}

// connect reaches env's cluster, or the one the flags name, and returns a
// client for it. It never creates a cluster: one that does not exist is a
// *cluster.MissingError, returned with the target.
func connect(ctx context.Context, f *Factory, env *config.Environment, flags clusterFlags) (*cluster.Target, *kube.Client, error) {
	t, err := cluster.Connect(ctx, env, cluster.Kubeconfig{Path: flags.Kubeconfig, Context: flags.Context}, f.clusterOptions())
	if err != nil {
		return t, nil, err
	}
	client, err := kube.New(t.Config)
	if err != nil {
		return t, nil, errs.Cluster(err)
	}
	return t, client, nil
}

// clusterOptions configure the cluster providers.
func (f *Factory) clusterOptions() cluster.Options {
	return cluster.Options{Logger: f.Logger}
}

// clusterSettings are the flags of the commands that create or start a
// cluster and wait for it (up, sync): --cluster-timeout and
// --cluster-runtime-wait.
var clusterSettings = []string{"cluster.timeout", "cluster.runtimeWait"}

// ensureOptions are the options of cluster.Ensure for d's environment.
func (f *Factory) ensureOptions(d *engine.Declared, progress cluster.Progress, adopt bool) cluster.EnsureOptions {
	return cluster.EnsureOptionsFor(d.Settings().Cluster, d.Env.Name(), f.clusterOptions(), progress, adopt)
}

// engine is the engine of a command on client (nil: offline), with the
// operator's decryption keys (--decryption-key-file, unless keys names
// another file); charts is where remote charts are cached ("" for the
// default). An environment that names a service account
// (spec.serviceAccountName) has its objects written as that account.
func (f *Factory) engine(client *kube.Client, d *engine.Declared, charts, keys string) *engine.Engine {
	c := f.engineConfig(charts, keys)
	c.Client = client
	if client != nil && d != nil {
		c.ServiceAccount = d.Env.Spec.ServiceAccountName
	}
	return engine.New(c)
}

// engineConfig is the configuration of f's engines, without a client.
func (f *Factory) engineConfig(charts, keys string) engine.Config {
	if keys == "" {
		keys = f.Global.DecryptionKeyFile
	}
	return engine.Config{DecryptionKeyFile: keys, SOPSKeyServices: f.Global.SOPSKeyServices, ChartCacheDir: charts, Credentials: f.Credentials, Logger: f.Logger}
}
