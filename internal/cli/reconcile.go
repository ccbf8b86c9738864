package cli

import (
	"context"
	"time"

	"github.com/spf13/pflag"

	"github.com/envctl/envctl/internal/cluster"
	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/engine"
	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/kube"
	"github.com/envctl/envctl/internal/ui"
)

// reconcileOptions are the flags `envctl up` and `envctl apply` share.
type reconcileOptions struct {
	Env    string
	Policy engine.Policy
	Output string
	// LockTimeout is how long to wait for the environment's lock.
	LockTimeout time.Duration
	// command names the command (up, apply) in the lock's holder identity.
	command string
	// Flags holds the setting override flags, passed on to config.Load.
	Flags *pflag.FlagSet
	// Source says where the declared state comes from.
	Source sourceFlags
}

func (o *reconcileOptions) bind(fs *pflag.FlagSet) {
	bindPolicy(fs, &o.Policy, nil, reconcileFlags...)
	fs.StringVarP(&o.Output, "output", "o", "text", "summary format: text or json")
	bindLockTimeout(fs, &o.LockTimeout)
	config.BindFlags(fs, "apply.concurrency")
	o.Source.bind(fs)
}

// load checks the flags, takes the source's snapshot (a Git fetch shown as
// a step of progress) and loads the environment: the start that up and
// apply share.
func (o *reconcileOptions) load(ctx context.Context, f *Factory, progress stepper) (*engine.Declared, error) {
	if err := checkOutput(o.Output, "text", "json"); err != nil {
		return nil, err
	}
	if err := o.Policy.Validate(); err != nil {
		return nil, err
	}
	if err := checkLockTimeout(o.LockTimeout); err != nil {
		return nil, err
	}
	return o.Source.load(ctx, f, o.Env, o.Flags, o.Policy.Components, progress)
}

// reconcile runs the engine's reconcile of d on target t, holding the
// environment's lock, with progress on the error stream and the summary on
// the output stream.
func reconcile(ctx context.Context, f *Factory, o *reconcileOptions, d *engine.Declared, t *cluster.Target, cl ui.ClusterInfo, progress *ui.Progress) (*engine.Result, error) {
	defer progress.Close()
	lockClient, err := kube.New(t.Config)
	if err != nil {
		return nil, errs.Cluster(err)
	}
	ctx, lock, err := lockEnvironment(ctx, f, lockClient.Clientset, d.Env.Name(), o.command, o.LockTimeout)
	if err != nil {
		return nil, err
	}
	defer lock.Release()
	// Count the run's requests (the lock's aside), so that the summary can
	// show that a run with nothing to do wrote nothing.
	cfg, counter := kube.CountingConfig(t.Config)
	client, err := kube.New(cfg)
	if err != nil {
		return nil, errs.Cluster(err)
	}
	res, err := f.engine(client, "", "").Reconcile(ctx, engine.Request{Declared: d, Policy: o.Policy, OnEvent: progress.Event})
	progress.Close()
	if res != nil {
		if werr := writeSummary(f, o.Output, res, cl, counter.Snapshot()); werr != nil && err == nil {
			err = werr
		}
	}
	return res, err
}

// writeSummary prints the summary of a run that made reqs.
func writeSummary(f *Factory, format string, res *engine.Result, cl ui.ClusterInfo, reqs kube.Snapshot) error {
	return ui.WriteSummary(f.Streams.Out, format, res, cl, ui.RequestCounts{Total: reqs.Requests, Writes: reqs.Writes})
}
