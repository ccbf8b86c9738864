package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/envctl/envctl/internal/cluster"
)

// clusterDeleteOptions are the inputs of `envctl cluster delete`.
type clusterDeleteOptions struct {
	namedCluster
	Kubeconfig string
}

func newClusterDeleteCmd(f *Factory) *cobra.Command {
	o := &clusterDeleteOptions{}
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a cluster envctl created",
		Long: `Delete a cluster envctl created, everything envctl kept for it, and its
envctl-NAME context in your kubeconfig.

envctl deletes only clusters it created: not an existing cluster, and not a
kind cluster made with the kind CLI. The provider that has NAME is found
unless --provider says which.`,
		Example: `  # Delete a cluster, whichever provider has it
  envctl cluster delete envctl-local

  # The same, naming the cluster with a flag
  envctl cluster delete --name scratch --provider kind`,
		Args: argsValidator(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.setName(cmd, args, "name the cluster to delete: envctl cluster delete NAME"); err != nil {
				return err
			}
			return runClusterDelete(cmd.Context(), f, o)
		},
	}
	fl := cmd.Flags()
	o.namedCluster.bind(fl)
	fl.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig file to remove the context from (default: the first file in $KUBECONFIG, else ~/.kube/config)")
	return cmd
}

func runClusterDelete(ctx context.Context, f *Factory, o *clusterDeleteOptions) error {
	p, err := o.provider(ctx, f)
	if err != nil {
		return err
	}
	progress := newProgress(f)
	defer progress.Close()
	if err := cluster.Delete(ctx, p, o.Name, o.Kubeconfig, progress); err != nil {
		return err
	}
	progress.Close()
	fmt.Fprintf(f.Streams.Out, "Deleted cluster %s (%s).\n", o.Name, p.Name())
	return nil
}
