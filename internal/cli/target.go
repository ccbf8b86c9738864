package cli

import (
	"context"

	"github.com/spf13/pflag"

	"github.com/envctl/envctl/internal/cluster"
	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/engine"
	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/kube"
)

// clusterFlags point a command at a cluster through a kubeconfig instead of
// the environment's own cluster.
type clusterFlags struct {
	Kubeconfig string
	Context    string
}

func (c *clusterFlags) bind(fs *pflag.FlagSet) {
	fs.StringVar(&c.Kubeconfig, "kubeconfig", "", "use the cluster of this kubeconfig file instead of the environment's own cluster")
	fs.StringVar(&c.Context, "context", "", "kubeconfig context to use (with or without --kubeconfig)")
}

func (c clusterFlags) set() bool { return c.Kubeconfig != "" || c.Context != "" }

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

// engine is the engine of a command on client (nil: offline), with the
// operator's decryption keys (--decryption-key-file, unless keys names
// another file); charts is where remote charts are cached ("" for the
// default).
func (f *Factory) engine(client *kube.Client, charts, keys string) *engine.Engine {
	c := f.engineConfig(charts, keys)
	c.Client = client
	return engine.New(c)
}

// engineConfig is the configuration of f's engines, without a client.
func (f *Factory) engineConfig(charts, keys string) engine.Config {
	if keys == "" {
		keys = f.Global.DecryptionKeyFile
	}
	return engine.Config{DecryptionKeyFile: keys, ChartCacheDir: charts, Logger: f.Logger}
}
