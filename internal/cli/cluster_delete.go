package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/envctl/envctl/internal/cluster/kubeconfig"
	"github.com/envctl/envctl/internal/config"
)

// clusterDeleteOptions are the inputs of `envctl cluster delete`.
type clusterDeleteOptions struct {
	Name       string
	Provider   string
	Env        string
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
			name, err := clusterNameArg(args, o.Name)
			if err != nil {
				return err
			}
			if name == "" {
				return usageError(fmt.Errorf("name the cluster to delete: envctl cluster delete NAME\nSee '%s --help'", cmd.CommandPath()))
			}
			o.Name = name
			return runClusterDelete(cmd.Context(), f, o)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.Name, "name", "", "cluster name (instead of the NAME argument)")
	fl.StringVar(&o.Provider, "provider", "", providerFlagHelp+" (default: whichever has the cluster)")
	fl.StringVarP(&o.Env, "env", "e", "", "environment that declares the cluster, for clusters of provider existing")
	fl.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig file to remove the context from (default: the first file in $KUBECONFIG, else ~/.kube/config)")
	return cmd
}

func runClusterDelete(ctx context.Context, f *Factory, o *clusterDeleteOptions) error {
	t, err := loadClusterTarget(f, o.Env, nil)
	if err != nil {
		return err
	}
	p, err := findProvider(ctx, o.Provider, o.Name, providerOptions(f, t))
	if err != nil {
		return err
	}
	progress := newProgress(f)
	defer progress.Close()

	done := progress.Step(fmt.Sprintf("Deleting %s cluster %s", p.Name(), o.Name))
	err = p.Delete(ctx, o.Name)
	done(err)
	if err != nil {
		return err
	}
	if p.Name() != config.ProviderExisting {
		path := o.Kubeconfig
		if path == "" {
			if path, err = kubeconfig.DefaultPath(); err != nil {
				return err
			}
		}
		done := progress.Step(fmt.Sprintf("Removing context %s from %s", kubeconfig.ContextName(o.Name), path))
		_, err := kubeconfig.Remove(ctx, path, o.Name)
		done(err)
		if err != nil {
			return fmt.Errorf("cluster %s is deleted, but its context is not: %w", o.Name, err)
		}
	}
	progress.Close()
	fmt.Fprintf(f.Streams.Out, "Deleted cluster %s (%s).\n", o.Name, p.Name())
	return nil
}
