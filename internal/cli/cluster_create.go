package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/envctl/envctl/internal/cluster"
	"github.com/envctl/envctl/internal/cluster/kubeconfig"
	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/errs"
)

// clusterCreateOptions are the inputs of `envctl cluster create`.
type clusterCreateOptions struct {
	Name     string
	Provider string
	Env      string
	// Wait bounds the whole creation; 0 waits as long as it takes.
	Wait time.Duration
	// Kubeconfig is the file the context is written to; "" is the default.
	Kubeconfig string
	// SetContext is --set-context: when given, it says whether the new
	// context becomes current; when not, the kubeconfig rules decide.
	SetContext currentFlag
	Output     string
}

// clusterResult is what `cluster create -o json` prints.
type clusterResult struct {
	cluster.Info
	// KubeconfigFile is where the context was written; empty for an
	// existing cluster, whose context is the user's own.
	KubeconfigFile string `json:"kubeconfigFile,omitempty"`
	// Reason says why auto chose the provider.
	Reason string `json:"reason,omitempty"`
	// CurrentContext says whether Context is now kubectl's current context.
	CurrentContext bool `json:"currentContext,omitempty"`
	// written is what the kubeconfig write did, for the summary.
	written kubeconfig.Written
}

func newClusterCreateCmd(f *Factory) *cobra.Command {
	o := &clusterCreateOptions{}
	cmd := &cobra.Command{
		Use:   "create [NAME]",
		Short: "Create a cluster, or check that it is up",
		Long: `Create a cluster unless it exists, wait until it is usable (every node
Ready, the default ServiceAccount created), and write its context, envctl-NAME,
into your kubeconfig. The context becomes kubectl's current context when the
kubeconfig has none; a current context you chose is left alone, and the
summary says how to switch (--set-context forces either way).

The cluster's name, provider and nodes come from an environment: the one
named by --env, or the repository's default environment when there is a
repository and that environment exists. Flags override it. Outside a
repository the cluster is called envctl-local and gets one node.

With provider existing nothing is created: envctl checks that the cluster
answers and reports its version.`,
		Example: `  # A cluster for the default environment, on kind or the embedded provider
  envctl cluster create

  # A kind cluster of your own, given at most five minutes
  envctl cluster create scratch --provider kind --wait 5m

  # The cluster the ci environment declares, printed as JSON
  envctl cluster create --env ci -o json

  # Make the new context current even though another one is
  envctl cluster create dev --set-context`,
		Args: argsValidator(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := clusterNameArg(args, o.Name)
			if err != nil {
				return err
			}
			o.Name = name
			return runClusterCreate(cmd.Context(), f, o, cmd)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.Name, "name", "", "cluster name (instead of the NAME argument)")
	fl.StringVar(&o.Provider, "provider", "", providerFlagHelp+" (default: the environment's, else auto)")
	fl.StringVarP(&o.Env, "env", "e", "", "environment whose cluster to create (default: the repository's default environment, if any)")
	fl.DurationVar(&o.Wait, "wait", 10*time.Minute, "give up, and delete what was half-created, after this long; 0 waits as long as it takes")
	fl.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig file to write the context to (default: the first file in $KUBECONFIG, else ~/.kube/config)")
	o.SetContext.bind(fl, "make the new context the current one (default: only when the kubeconfig has no current context)")
	fl.StringVarP(&o.Output, "output", "o", "text", "output format: text or json")
	return cmd
}

func runClusterCreate(ctx context.Context, f *Factory, o *clusterCreateOptions, cmd *cobra.Command) error {
	if err := checkOutput(o.Output, "text", "json"); err != nil {
		return err
	}
	if o.Wait < 0 {
		return usageError(fmt.Errorf("--wait %v: want a positive duration, or 0 for no limit", o.Wait))
	}
	t, err := loadClusterTarget(f, o.Env, nil)
	if err != nil {
		return err
	}
	if o.Name != "" {
		t.Name = o.Name
	}
	if t.Name == "" {
		t.Name = cluster.DefaultName
	}
	if err := cluster.ValidateName(t.Name); err != nil {
		return err
	}
	provider := t.Spec.Provider
	if cmd.Flags().Changed("provider") {
		provider = o.Provider
		t.Spec.Provider = o.Provider
	}

	progress := newProgress(f)
	defer progress.Close()
	if t.Env != "" {
		progress.Note("Cluster %s of environment %s", t.Name, t.Env)
	}
	sel, err := cluster.Select(ctx, provider, t.Name, providerOptions(f, t))
	if err != nil {
		return err
	}
	if sel.Reason != "" {
		progress.Note("Provider auto: %s", sel.Reason)
	}
	p := sel.Provider

	if o.Wait > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, o.Wait, errs.Timeout(fmt.Errorf("--wait %v passed", o.Wait)))
		defer cancel()
	}
	info, err := p.Ensure(ctx, cluster.Spec{Name: t.Name, Cluster: t.Spec, Progress: progress})
	if err != nil {
		return err // providers name the cluster in their errors
	}

	res := clusterResult{Info: *info, Reason: sel.Reason}
	if p.Name() != config.ProviderExisting {
		path, err := kubeconfigPath(o.Kubeconfig)
		if err != nil {
			return err
		}
		done := progress.Step(fmt.Sprintf("Writing context %s to %s", kubeconfig.ContextName(t.Name), path))
		w, err := cluster.WriteKubeconfig(ctx, p, t.Name, kubeconfig.WriteOptions{Path: path, Current: o.SetContext.rule()})
		done(err)
		if err != nil {
			return fmt.Errorf("cluster %s: write kubeconfig: %w", t.Name, err)
		}
		res.Context, res.KubeconfigFile, res.CurrentContext, res.written = w.Context, path, w.Current, w
	}
	progress.Close()

	if o.Output == "json" {
		return writeJSON(f.Streams.Out, res)
	}
	printClusterSummary(f, res)
	return nil
}

// printClusterSummary tells the user what they have and how to reach it.
func printClusterSummary(f *Factory, r clusterResult) {
	w := f.Streams.Out
	fmt.Fprintf(w, "Cluster %s is ready: %s, Kubernetes %s, %s.\n", r.Name, r.Provider, r.Version, nodeCount(r.Nodes))
	fmt.Fprintf(w, "  server:  %s\n", r.Server)
	if r.Context != "" {
		where := ""
		if r.KubeconfigFile != "" {
			where = " in " + r.KubeconfigFile
			if r.CurrentContext {
				where += " (current)"
			}
		}
		fmt.Fprintf(w, "  context: %s%s\n", r.Context, where)
		fmt.Fprintf(w, "Try: kubectl --context %s get nodes\n", r.Context)
		if hint := useContextHint(r.written); hint != "" {
			fmt.Fprintln(w, sentence(hint))
		}
	}
}

func nodeCount(n int) string {
	if n == 1 {
		return "1 node"
	}
	return fmt.Sprintf("%d nodes", n)
}
