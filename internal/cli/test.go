package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/engine"
	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/render"
	"github.com/envctl/envctl/internal/source"
)

// testOptions are the inputs of `envctl test`.
type testOptions struct {
	Env        string
	Components []string
	Timeout    time.Duration
	Output     string
	Cluster    clusterFlags
}

// testReport is what `envctl test -o json` prints.
type testReport struct {
	Environment string `json:"environment"`
	// Simulated says that the cluster runs no containers (the embedded
	// cluster), so a test's outcome is simulated.
	Simulated bool         `json:"simulated"`
	Passed    bool         `json:"passed"`
	Tests     []testResult `json:"tests"`
}

type testResult struct {
	Component string `json:"component"`
	Object    string `json:"object"`
	Passed    bool   `json:"passed"`
	Error     string `json:"error,omitempty"`
}

func newTestCmd(f *Factory) *cobra.Command {
	o := &testOptions{}
	cmd := &cobra.Command{
		Use:   "test [ENV]",
		Short: "Run the Helm charts' tests against the environment",
		Long: `Run the test hooks of the environment's Helm charts (templates annotated
helm.sh/hook: test), as 'helm test' does: each test Pod or Job is created in
the cluster, waited for until it finished, and reported as passed or failed;
its delete policy then removes it or leaves it for inspection.

The environment must be up: tests check a running release. Tests run one
after the other, components in apply order.

On the embedded cluster no container runs: pods are simulated, and a test
Pod succeeds once it is scheduled (the annotation
envctl.dev/simulated-exit-code sets another outcome). The report says so.

Exit codes: 0 every test passed (or there were none), 2 bad input, 3 a test
failed, 4 a test timed out, 6 cluster error.`,
		Example: `  # Run every chart test of the default environment
  envctl test

  # Only the monitoring chart's tests, with a JSON report
  envctl test ci --component monitoring -o json`,
		Args: argsValidator(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.Env = args[0]
			}
			if err := checkOutput(o.Output, "text", "json"); err != nil {
				return err
			}
			if o.Timeout <= 0 {
				return usageError(fmt.Errorf("--timeout must be positive, not %s", o.Timeout))
			}
			return runTest(cmd.Context(), f, o)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&o.Components, "component", nil, "run only this component's tests (repeatable)")
	fl.DurationVar(&o.Timeout, "timeout", 5*time.Minute, "time each test has to finish")
	fl.StringVarP(&o.Output, "output", "o", "text", "output format: text or json")
	o.Cluster.bind(fl)
	return cmd
}

func runTest(ctx context.Context, f *Factory, o *testOptions) error {
	repo, env, err := localEnvironment(f, o.Env)
	if err != nil {
		return err
	}
	target, err := connect(ctx, f, repo, env, o.Cluster)
	if err != nil {
		return err
	}
	prev, err := inventory.NewStore(target.client.Clientset).Load(ctx, env.Name())
	if errors.Is(err, inventory.ErrNotFound) {
		return errs.Inputf("environment %s is not up in cluster %s: bring it up with `envctl up %s` before testing it", env.Name(), target.clusterName, env.Name())
	}
	if err != nil {
		return err
	}
	snap, err := source.Local(repo.Root)
	if err != nil {
		return err
	}
	caps, err := clusterCapabilities(ctx, target.client, env, o.Components)
	if err != nil {
		return err
	}
	res, err := render.Render(ctx, render.Options{
		DecryptionKeyFile: f.Global.DecryptionKeyFile,
		Source:            snap,
		Environment:       env,
		Settings:          repo.Config.Spec.Render,
		Components:        o.Components,
		Logger:            f.Logger,
		Capabilities:      caps,
		Installed:         prev.Has,
	})
	if err != nil {
		return err
	}

	report := &testReport{Environment: env.Name(), Passed: true, Tests: []testResult{}}
	report.Simulated = simulatedNodes(ctx, target)
	out := f.Streams.ErrOut
	if report.Simulated {
		fmt.Fprintln(out, "Note: pods are simulated on the embedded cluster: no container runs, and a test Pod passes once it is scheduled.")
	}
	runner := engine.NewHookRunner(target.client, repo.Config.Spec, f.Logger, nil)
	var failed error
	for _, c := range res.Components {
		if !engine.HasHooks(c, render.Test) {
			continue
		}
		hooks, err := runner.Run(ctx, c, render.Test, o.Timeout)
		for _, h := range hooks {
			tr := testResult{Component: c.Name, Object: h.Object, Passed: h.Error == "", Error: h.Error}
			report.Tests = append(report.Tests, tr)
			if tr.Passed {
				fmt.Fprintf(out, "✓ %s: %s passed\n", c.Name, h.Object)
			} else {
				fmt.Fprintf(out, "✗ %s: %s failed: %s\n", c.Name, h.Object, h.Error)
			}
		}
		if err != nil {
			report.Passed = false
			if failed == nil {
				failed = fmt.Errorf("component %s: %w", c.Name, err)
			}
			if ctx.Err() != nil {
				break
			}
		}
	}
	if o.Output == "json" {
		if err := writeJSON(f.Streams.Out, report); err != nil {
			return err
		}
	} else {
		passed := 0
		for _, t := range report.Tests {
			if t.Passed {
				passed++
			}
		}
		switch {
		case len(report.Tests) == 0:
			fmt.Fprintf(f.Streams.Out, "Environment %s has no chart tests.\n", env.Name())
		default:
			fmt.Fprintf(f.Streams.Out, "Environment %s: %d of %s passed.\n", env.Name(), passed, plural(len(report.Tests), "test"))
		}
	}
	if failed != nil {
		if errs.KindOf(failed) == errs.KindUnknown {
			failed = errs.Unhealthy(failed)
		}
		return fmt.Errorf("environment %s: a test failed: %w", env.Name(), failed)
	}
	return nil
}

// simulatedNodes says whether the cluster is envctl's embedded one, whose
// nodes are simulated and run no container: its nodes carry the
// envctl.dev/simulated label, however the cluster was reached.
func simulatedNodes(ctx context.Context, target *envTarget) bool {
	if target.provider != nil && target.provider.Name() == config.ProviderEmbedded {
		return true
	}
	nodes, err := target.client.Clientset.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: "envctl.dev/simulated", Limit: 1})
	return err == nil && len(nodes.Items) > 0
}
