package embedded

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/rest"

	"github.com/envctl/envctl/internal/cluster"
	"github.com/envctl/envctl/internal/cluster/embedded/nodesim"
	kubecfg "github.com/envctl/envctl/internal/cluster/kubeconfig"
	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/errs"
)

// Ensure makes sure the cluster's serve process runs and returns once the
// cluster is usable.
//
//   - No cluster: the state directory and file are written, the serve
//     process is started detached, and Ensure waits for it. If it dies, or
//     ctx ends first, it is stopped and the directory removed; the error
//     carries the end of its log.
//   - A running cluster: nothing is started; the step says so.
//   - A cluster whose serve process is gone (or whose pid now belongs to
//     another program): it is restarted from its state, on its old port
//     if free. A failed restart stops the process and keeps the state.
//     A serve process that was killed a moment ago, or that exits while
//     Ensure waits for it, is waited for until it is gone, then restarted.
//
// The state directory's lock makes concurrent Ensures and Deletes of one
// cluster take turns, so that a cluster never gets two serve processes.
func (p *Provider) Ensure(ctx context.Context, spec cluster.Spec) (*cluster.Info, error) {
	name := spec.Name
	dir, err := p.dir(name)
	if err != nil {
		return nil, err
	}
	root, err := p.stateRoot()
	if err != nil {
		return nil, err
	}
	pools := nodePools(spec.Cluster.Embedded)
	policy := spec.Cluster.Embedded.WebhookPolicy()
	if err := nodesim.Validate(nodesim.Options{Pools: pools}); err != nil {
		return nil, fmt.Errorf("embedded cluster %s: %w", name, err)
	}

	lock, err := lockDir(ctx, dir, lockFile, true, func() func(error) {
		return spec.Step(fmt.Sprintf("Waiting for another envctl that is starting or deleting cluster %s", name))
	})
	if err != nil {
		return nil, fmt.Errorf("embedded cluster %s: %w", name, err)
	}
	defer lock.unlock()

	// Asked first, whatever the state says: a serve process may be up
	// whose creator was killed before it saw the process serve.
	pr, ok := p.server(dir, root, name)
	if ok && pr.running() {
		st, err := readState(dir, name)
		if errors.Is(err, os.ErrNotExist) {
			err = damaged(name, filepath.Join(dir, stateFile), fmt.Sprintf("is missing, though its serve process %d runs", pr.PID))
		}
		if err != nil {
			return nil, err
		}
		info, err := p.alreadyRunning(ctx, spec, dir, st, pr)
		if !errors.Is(err, errServeExited) {
			return info, err
		}
		spec.Note("Serve process %d of embedded cluster %s stopped while envctl waited for its API server", pr.PID, name)
	}
	// A serve process killed a moment ago still holds the cluster's files,
	// port and serve lock until its last thread is gone.
	if pr.alive() {
		if err := awaitExit(ctx, spec, pr); err != nil {
			return nil, err
		}
	}
	st, fresh, err := p.prepareState(dir, name, pools)
	if err != nil {
		return nil, err
	}
	if st.webhookPolicy() != policy {
		st.Webhooks = policy
		if err := writeState(dir, st); err != nil {
			return nil, fmt.Errorf("embedded cluster %s: %w", name, err)
		}
	}
	why := ""
	if !fresh {
		if err := checkRestartable(dir, name); err != nil {
			return nil, err
		}
		why = "its serve process is not running"
		if pr.PID != 0 {
			why = fmt.Sprintf("its serve process %d is gone", pr.PID)
		}
		if !samePools(st.Nodes, pools) {
			p.log().Warn("embedded cluster keeps the nodes it was created with; delete and create it to get the declared ones", "cluster", name)
		}
	}
	return p.start(ctx, spec, dir, root, fresh, why)
}

// prepareState reads the cluster's state, or makes it for a new cluster,
// and reports whether the cluster starts afresh: it is new, or no earlier
// start got as far as serving (so there is nothing to keep).
func (p *Provider) prepareState(dir, name string, pools []config.NodePool) (*clusterState, bool, error) {
	st, err := readState(dir, name)
	switch {
	case errors.Is(err, os.ErrNotExist):
		for _, data := range []string{"etcd", "pki"} {
			if _, err := os.Stat(filepath.Join(dir, data)); err == nil {
				return nil, false, damaged(name, filepath.Join(dir, stateFile), "is missing, but "+filepath.Join(dir, data)+" holds cluster data")
			}
		}
		st = &clusterState{Name: name, Created: time.Now().UTC().Truncate(time.Second)}
	case err != nil:
		return nil, false, err
	case st.served():
		return st, false, nil
	}
	st.KubernetesVersion = KubernetesVersion()
	st.Nodes = pools
	st.Server, st.Port, st.PID, st.Started = "", 0, 0, time.Time{}
	if err := writeState(dir, st); err != nil {
		return nil, false, fmt.Errorf("embedded cluster %s: %w", name, err)
	}
	return st, true, nil
}

// errServeExited is why alreadyRunning gave up: the serve process it
// waited for exited meanwhile, and Ensure restarts the cluster instead.
var errServeExited = errors.New("serve process exited")

// exitWait bounds the wait for a serve process that has begun to exit to
// be gone, as terminate bounds it after SIGKILL.
const exitWait = 10 * time.Second

// alreadyRunning is Ensure of a running cluster: a check that it is
// usable, and its description. It says every cluster.ReportEvery what is
// still missing, and gives up with errServeExited if the serve process
// stops running while it waits.
func (p *Provider) alreadyRunning(ctx context.Context, spec cluster.Spec, dir string, st *clusterState, pr proc) (*cluster.Info, error) {
	done := spec.Step(fmt.Sprintf("Embedded cluster %s is already running (serve process %d); nothing to start", spec.Name, pr.PID))
	wctx, stop := whileRunning(ctx, pr)
	rc, err := p.restConfig(dir, spec.Name)
	if err == nil {
		err = cluster.WaitUsableReporting(wctx, rc, func(waited time.Duration, missing string) {
			spec.Note("still waiting for embedded cluster %s (serve process %d) to be usable after %v: %s", spec.Name, pr.PID, waited, missing)
		})
	}
	stop()
	if cause := context.Cause(wctx); errors.Is(cause, errServeExited) {
		err = cause
	}
	done(err)
	if err != nil {
		return nil, fmt.Errorf("embedded cluster %s: %w", spec.Name, err)
	}
	if !samePools(st.Nodes, nodePools(spec.Cluster.Embedded)) {
		p.log().Warn("embedded cluster runs with the nodes it was created with, not the declared ones; delete and create it to change them", "cluster", spec.Name)
	}
	if policy := spec.Cluster.Embedded.WebhookPolicy(); st.webhookPolicy() != policy {
		if err := p.switchWebhooks(ctx, spec, dir, st, policy); err != nil {
			return nil, err
		}
	}
	return p.info(ctx, dir, spec.Name), nil
}

// whileRunning returns ctx, ended with cause errServeExited once pr stops
// running, so that a wait on its API server does not outlive it.
func whileRunning(ctx context.Context, pr proc) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	go func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if !pr.running() {
					cancel(errServeExited)
					return
				}
			}
		}
	}()
	return ctx, func() { cancel(context.Canceled) }
}

// awaitExit waits, at most exitWait, until pr, which has begun to exit,
// is gone, saying so.
func awaitExit(ctx context.Context, spec cluster.Spec, pr proc) error {
	done := spec.Step(fmt.Sprintf("Waiting for the exiting serve process %d of embedded cluster %s to be gone", pr.PID, spec.Name))
	wctx, cancel := context.WithTimeoutCause(ctx, exitWait, fmt.Errorf("it was still exiting after %v", exitWait))
	defer cancel()
	var err error
	if !waitGone(wctx, pr) {
		err = fmt.Errorf("embedded cluster %s: serve process %d has exited but still holds the cluster's files: %w", spec.Name, pr.PID, context.Cause(wctx))
		switch {
		case ctx.Err() == nil:
			err = errs.Cluster(err)
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			err = errs.Timeout(err)
		}
	}
	done(err)
	return err
}

// webhookSwitchTimeout bounds the wait for a running serve process to take
// up a new webhook policy; it reads its state every watchdogInterval.
const webhookSwitchTimeout = 4 * watchdogInterval

// switchWebhooks records a new webhook policy in the state of a running
// cluster and waits until its API server follows it.
func (p *Provider) switchWebhooks(ctx context.Context, spec cluster.Spec, dir string, st *clusterState, policy string) error {
	done := spec.Step(fmt.Sprintf("Switching embedded cluster %s to webhooks: %s", spec.Name, policy))
	st.Webhooks = policy
	err := writeState(dir, st)
	var rc *rest.Config
	if err == nil {
		rc, err = p.restConfig(dir, spec.Name)
	}
	if err == nil {
		err = waitWebhookPolicy(ctx, rc, policy, webhookSwitchTimeout)
	}
	done(err)
	if err != nil {
		return fmt.Errorf("embedded cluster %s: %w", spec.Name, err)
	}
	return nil
}

// start starts the serve process and waits until the cluster is usable,
// cleaning up when it is not.
func (p *Provider) start(ctx context.Context, spec cluster.Spec, dir, root string, fresh bool, why string) (*cluster.Info, error) {
	name := spec.Name
	step := fmt.Sprintf("Starting embedded control plane %s", name)
	if !fresh {
		step = fmt.Sprintf("Restarting embedded control plane %s from its state (%s)", name, why)
	}
	done := spec.Step(step)
	exe := p.exe
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			done(err)
			return nil, fmt.Errorf("embedded cluster %s: find the envctl binary to run it: %w", name, err)
		}
	}
	c, err := spawn(exe, p.childArgs(ctx, root, name), dir, os.Environ())
	if err == nil {
		_, err = c.await(ctx, readyAPI)
	}
	done(err)
	if err != nil {
		return nil, p.abort(c, dir, name, fresh, err)
	}

	done = spec.Step("Waiting for nodes Ready and the default ServiceAccount")
	_, err = c.await(ctx, readyUsable)
	if err == nil {
		// The serve process checked; envctl's own gate, shared by every
		// provider, agrees at its first look.
		var rc *rest.Config
		if rc, err = p.restConfig(dir, name); err == nil {
			err = cluster.WaitUsable(ctx, rc)
		}
	}
	done(err)
	if err != nil {
		return nil, p.abort(c, dir, name, fresh, err)
	}
	p.log().Info("embedded cluster serving", "cluster", name, "pid", c.proc.PID, "log", c.logPath)
	return p.info(ctx, dir, name), nil
}

// abort stops a serve process that did not make it and removes what a
// fresh create made; a restart keeps the state.
func (p *Provider) abort(c *child, dir, name string, fresh bool, cause error) error {
	if c != nil {
		c.kill(p.log())
	}
	if fresh {
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("embedded cluster %s: %w; and removing the half-created cluster failed: %v", name, cause, err)
		}
		return fmt.Errorf("embedded cluster %s: %w; stopped it and removed the half-created cluster", name, cause)
	}
	if c != nil {
		if pr, err := readPID(filepath.Join(dir, pidFile)); err == nil && pr.PID == c.proc.PID {
			_ = os.Remove(filepath.Join(dir, pidFile))
		}
	}
	return fmt.Errorf("embedded cluster %s: %w; stopped it, its state is kept in %s", name, cause, dir)
}

// childArgs are the serve process's arguments: serveArgs, the ready pipe,
// and this process's verbosity, so that -vv debugs the serve process too.
func (p *Provider) childArgs(ctx context.Context, root, name string) []string {
	args := append(serveArgs(root, name), "--ready-fd", fmt.Sprint(readyFD))
	if p.log().Enabled(ctx, slog.LevelDebug) {
		args = append(args, "-v", "-v")
	}
	return args
}

// info describes a cluster that was just found usable.
func (p *Provider) info(ctx context.Context, dir, name string) *cluster.Info {
	in := &cluster.Info{Name: name, Provider: config.ProviderEmbedded, Context: kubecfg.ContextName(name), Status: cluster.StatusRunning}
	if st, err := readState(dir, name); err == nil {
		in.Server, in.Created = st.Server, st.Created
	}
	if rc, err := p.restConfig(dir, name); err == nil {
		var perr error
		if in.Version, in.Nodes, perr = cluster.Probe(ctx, rc, probeTimeout); perr != nil {
			p.log().Debug("probe after start", "cluster", name, "err", perr)
		}
	}
	return in
}
