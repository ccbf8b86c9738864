package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/envctl/envctl/internal/engine"
	"github.com/envctl/envctl/internal/ui"
)

// testOptions are the inputs of `envctl test`.
type testOptions struct {
	envFlags
	// Policy: the components whose tests run and each test's timeout.
	Policy engine.Policy
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
			if err := o.args(args); err != nil {
				return err
			}
			if o.Policy.Timeout <= 0 {
				return usageError(fmt.Errorf("--timeout must be positive, not %s", o.Policy.Timeout))
			}
			return runTest(cmd.Context(), f, o)
		},
	}
	fl := cmd.Flags()
	o.Policy.Timeout = 5 * time.Minute
	o.Policy.Bind(fl, map[string]string{
		engine.FlagComponent: "run only these components' tests (repeat or comma-separate)",
		engine.FlagTimeout:   "time each test has to finish",
	}, engine.FlagComponent, engine.FlagTimeout)
	o.bind(fl, outputs("text")...)
	return cmd
}

func runTest(ctx context.Context, f *Factory, o *testOptions) error {
	d, t, client, err := o.open(ctx, f, nil, o.Policy.Components)
	if err != nil {
		return err
	}
	report := &ui.TestReport{Environment: d.Env.Name(), Passed: true}
	out := f.Streams.ErrOut
	if report.Simulated = t.Simulated(ctx, client.Clientset); report.Simulated {
		fmt.Fprintln(out, "Note: pods are simulated on the embedded cluster: no container runs, and a test Pod passes once it is scheduled.")
	}
	tests, failed := f.engine(client, d, "", "").Test(ctx, engine.Request{Declared: d, Policy: o.Policy, OnEvent: ui.TestEvents(out)})
	if tests == nil && failed != nil {
		return failed
	}
	report.Tests, report.Passed = tests, failed == nil
	if err := ui.WriteTests(f.Streams.Out, o.Output, report); err != nil {
		return err
	}
	return failed
}
