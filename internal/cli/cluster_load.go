package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/envctl/envctl/internal/cluster"
	"github.com/envctl/envctl/internal/ui"
)

// clusterLoadOptions are the inputs of `envctl cluster load`.
type clusterLoadOptions struct {
	Name, Env, Output string
}

func newClusterLoadCmd(f *Factory) *cobra.Command {
	o := &clusterLoadOptions{}
	cmd := &cobra.Command{
		Use:   "load IMAGE...",
		Short: "Copy images from your container runtime into a kind cluster's nodes",
		Long: `Copy images from the container runtime the cluster runs on (docker, podman,
nerdctl) into every node of a kind cluster that does not have them yet, as
kind load docker-image does, so that a pod runs an image you built without a
registry. Use a tag other than :latest (which is always pulled), or
imagePullPolicy: IfNotPresent.

The cluster is the environment's (--env, or the default environment), or the
one --name names. For images pushed rather than copied, give the cluster a
local registry (spec.cluster.kind.registry: true).`,
		Example: `  # Build the model server and run it on the local environment's cluster
  docker build -t model-server:dev .
  envctl cluster load model-server:dev
  envctl up

  # Several images, into a cluster named explicitly
  envctl cluster load --name scratch api:dev worker:dev`,
		Args: argsValidator(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runClusterLoad(cmd.Context(), f, o, args)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.Name, "name", "", "cluster name (default: the environment's cluster)")
	fl.StringVarP(&o.Env, "env", "e", "", "environment whose cluster to load into (default: the repository's default environment, if any)")
	fl.StringVarP(&o.Output, "output", "o", "text", "output format: text, json or yaml")
	return cmd
}

func runClusterLoad(ctx context.Context, f *Factory, o *clusterLoadOptions, images []string) error {
	if err := checkOutput(o.Output, outputs("text")...); err != nil {
		return err
	}
	p, name, err := cluster.FindForEnv(ctx, f.Global.Repo, o.Env, "", o.Name, f.clusterOptions(), f.Logger)
	if err != nil {
		return err
	}
	progress := newProgress(f)
	defer progress.Close()
	loaded, err := cluster.LoadImages(ctx, p, name, images, progress)
	if err != nil {
		return fmt.Errorf("load images into cluster %s: %w", name, err)
	}
	progress.Close()
	return ui.WriteLoaded(f.Streams.Out, o.Output, name, loaded)
}
