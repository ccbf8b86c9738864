package embedded

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/spf13/pflag"
	"k8s.io/component-base/configz"
	"k8s.io/kubernetes/cmd/kube-scheduler/app"
	"k8s.io/kubernetes/cmd/kube-scheduler/app/options"
)

// schedulerConfig is the scheduler's component configuration: the
// kubeconfig and leader election live there rather than in deprecated flags.
const schedulerConfig = `apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: %q
leaderElection:
  leaderElect: false
`

// scheduler is a configured kube-scheduler.
type scheduler struct {
	run func(ctx context.Context) error
}

// newScheduler configures the kube-scheduler with default profiles,
// connecting with the kubeconfig at kubeconfigPath. The configuration file is
// written to dir.
func newScheduler(ctx context.Context, dir, kubeconfigPath string) (*scheduler, error) {
	cfgPath := filepath.Join(dir, "scheduler.yaml")
	if err := writeFile(cfgPath, fmt.Appendf(nil, schedulerConfig, kubeconfigPath)); err != nil {
		return nil, err
	}
	// See newControllerManager: the scheduler registers its /configz
	// entry under this name.
	configz.Delete("componentconfig")
	o := options.NewOptions()
	fs := pflag.NewFlagSet("kube-scheduler", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	for _, f := range o.Flags.FlagSets {
		fs.AddFlagSet(f)
	}
	flags := []string{
		"--config=" + cfgPath,
		// No health or metrics endpoint: nothing but the API server listens.
		"--secure-port=0",
	}
	if err := fs.Parse(flags); err != nil {
		return nil, fmt.Errorf("kube-scheduler flags: %w", err)
	}
	cc, sched, err := app.Setup(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("configure kube-scheduler: %w", err)
	}
	return &scheduler{run: func(ctx context.Context) error {
		err := app.Run(ctx, cc, sched)
		if ctx.Err() != nil {
			// Without leader election Run always ends in an error once
			// its context is done; that is a clean stop.
			return nil
		}
		return err
	}}, nil
}
