package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/envctl/envctl/internal/cluster"
	"github.com/envctl/envctl/internal/cluster/kubeconfig"
	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/ui"
)

// clusterKubeconfigOptions are the inputs of `envctl cluster kubeconfig`.
type clusterKubeconfigOptions struct {
	namedCluster
	Print      bool
	Write      bool
	Kubeconfig string
	SetContext kubeconfig.Current
}

func newClusterKubeconfigCmd(f *Factory) *cobra.Command {
	o := &clusterKubeconfigOptions{}
	cmd := &cobra.Command{
		Use:   "kubeconfig NAME",
		Short: "Write a cluster's context into your kubeconfig, or print it",
		Long: `Write the cluster's envctl-NAME context into your kubeconfig (--write, the
default), for instance after the file was replaced, or print a kubeconfig
holding only that context (--print).

The printed kubeconfig holds the cluster's credentials: envctl prints it only
when asked with --print.`,
		Example: `  # Restore the context of a cluster in ~/.kube/config
  envctl cluster kubeconfig envctl-local

  # A kubeconfig file of its own for a CI job
  envctl cluster kubeconfig --name envctl-ci --print > "$RUNNER_TEMP/kubeconfig"`,
		Args: argsValidator(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.setName(cmd, args, "name the cluster: envctl cluster kubeconfig NAME"); err != nil {
				return err
			}
			if o.Print && o.Write {
				return usageError(fmt.Errorf("--print and --write exclude each other"))
			}
			return runClusterKubeconfig(cmd.Context(), f, o)
		},
	}
	fl := cmd.Flags()
	o.namedCluster.bind(fl)
	fl.BoolVar(&o.Write, "write", false, "merge the context into the kubeconfig file (the default)")
	fl.BoolVar(&o.Print, "print", false, "print a kubeconfig with only this cluster's context, credentials included")
	fl.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig file to write to (default: the first file in $KUBECONFIG, else ~/.kube/config)")
	bindSetContext(fl, &o.SetContext, "make the context the current one (default: only when the kubeconfig has no current context)")
	return cmd
}

func runClusterKubeconfig(ctx context.Context, f *Factory, o *clusterKubeconfigOptions) error {
	p, err := o.provider(ctx, f)
	if err != nil {
		return err
	}
	if o.Print {
		data, err := p.Kubeconfig(ctx, o.Name)
		if err != nil {
			return err
		}
		_, err = f.Streams.Out.Write(data)
		return err
	}
	if p.Name() == config.ProviderExisting {
		return usageError(fmt.Errorf("cluster %s is an existing cluster: its context is already in your kubeconfig; use --print for a file of its own", o.Name))
	}
	path, err := kubeconfig.PathOr(o.Kubeconfig)
	if err != nil {
		return err
	}
	w, err := cluster.WriteKubeconfig(ctx, p, o.Name, kubeconfig.WriteOptions{Path: path, Current: o.SetContext})
	if err != nil {
		return err
	}
	ui.WriteContextWritten(f.Streams.Out, w)
	return nil
}
