package embedded

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/envctl/envctl/internal/cluster"
	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/errs"
)

// ServeOptions configure Serve.
type ServeOptions struct {
	// StateDir is envctl's state root (see cluster.StateDir); the cluster
	// lives in cluster.ClusterDir(StateDir, "embedded", Name).
	StateDir string
	// Name is the cluster's name.
	Name string
	// Ready, when set, hears how the start goes, one line per event:
	// "api SERVER" once the API server answers, then "usable" once the
	// nodes are Ready; Serve closes it after the last. Ensure reads these
	// from a pipe to learn when the detached process is up.
	Ready io.WriteCloser
	// UsableTimeout bounds the wait for the nodes after the API server is
	// up; zero means two minutes.
	UsableTimeout time.Duration
	// Logger receives the serve process's own log; slog.Default() if nil.
	Logger *slog.Logger
}

// Ready-line events.
const (
	readyAPI    = "api"
	readyUsable = "usable"
)

// watchdogInterval is how often a serve process checks that its pid file
// still names it.
const watchdogInterval = 2 * time.Second

// Serve runs the control plane of an embedded cluster created by
// Provider.Ensure in the calling process until ctx ends (the serve command
// cancels it on SIGTERM and SIGINT), then stops it cleanly and removes the
// pid file. It is what `envctl cluster serve` runs, detached, for each
// cluster; it can also run in the foreground to watch a cluster's log.
//
// Serve refuses to run a cluster another process already serves. It
// restarts from the cluster's data, on the port the cluster had when that
// port is free and on a free one otherwise (the state file then records
// the new server). It also stops when its pid file stops naming it, which
// is what deleting the state directory from under it amounts to. The Go
// runtime's memory settings are left at their defaults (README: the serve
// process's footprint).
func Serve(ctx context.Context, opts ServeOptions) (err error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	if opts.UsableTimeout <= 0 {
		opts.UsableTimeout = 2 * time.Minute
	}
	ready := readyWriter{w: opts.Ready}
	defer ready.close()
	if err := cluster.ValidateName(opts.Name); err != nil {
		return err
	}
	dir, err := cluster.ClusterDir(opts.StateDir, config.ProviderEmbedded, opts.Name)
	if err != nil {
		return err
	}
	st, err := readState(dir, opts.Name)
	if errors.Is(err, os.ErrNotExist) {
		return errs.Inputf("embedded cluster %s has no state in %s; create it with: envctl cluster create %s --provider embedded", opts.Name, dir, opts.Name)
	}
	if err != nil {
		return err
	}

	lock, err := tryLock(filepath.Join(dir, serveLockFile))
	if err != nil {
		return fmt.Errorf("embedded cluster %s: %w", opts.Name, err)
	}
	if lock == nil {
		who := "another process"
		if p, err := readPID(filepath.Join(dir, pidFile)); err == nil {
			who = fmt.Sprintf("process %d", p.PID)
		}
		return errs.Conflict(fmt.Errorf("embedded cluster %s is already served by %s", opts.Name, who))
	}
	defer lock.unlock()

	self, err := selfProc()
	if err != nil {
		return fmt.Errorf("embedded cluster %s: identify this process: %w", opts.Name, err)
	}
	pidPath := filepath.Join(dir, pidFile)
	if err := writePID(pidPath, self); err != nil {
		return fmt.Errorf("embedded cluster %s: %w", opts.Name, err)
	}
	defer func() {
		// Only our own: after a Delete the file may be gone, or a new
		// cluster's serve process may own the name.
		if p, rerr := readPID(pidPath); rerr == nil && p == self {
			if rmErr := os.Remove(pidPath); rmErr != nil && err == nil {
				err = fmt.Errorf("embedded cluster %s: %w", opts.Name, rmErr)
			}
		}
	}()

	cp, err := startOnPort(ctx, log, Options{Dir: dir, Port: st.Port, Nodes: st.Nodes, Webhooks: st.Webhooks, Logger: log})
	if err != nil {
		return fmt.Errorf("embedded cluster %s: %w", opts.Name, err)
	}
	defer func() {
		if stopErr := cp.Stop(); stopErr != nil && err == nil {
			err = fmt.Errorf("embedded cluster %s: %w", opts.Name, stopErr)
		}
		log.Info("embedded cluster stopped", "cluster", opts.Name)
	}()

	st.Server, st.Port, st.PID, st.Started = cp.Server(), serverPort(cp.Server()), self.PID, time.Now().UTC().Truncate(time.Second)
	if err := writeState(dir, st); err != nil {
		return fmt.Errorf("embedded cluster %s: %w", opts.Name, err)
	}
	log.Info("embedded cluster API server ready", "cluster", opts.Name, "server", cp.Server(), "pid", self.PID)
	ready.send(readyAPI + " " + cp.Server())

	uctx, cancel := context.WithTimeout(ctx, opts.UsableTimeout)
	err = cp.WaitUsable(uctx)
	cancel()
	if err != nil {
		return fmt.Errorf("embedded cluster %s: %w", opts.Name, err)
	}
	log.Info("embedded cluster usable", "cluster", opts.Name, "nodes", len(cp.NodeNames()))
	ready.send(readyUsable)
	ready.close()

	return watch(ctx, log, cp, dir, opts.Name, self)
}

// watch blocks until ctx ends, the control plane fails, or the pid file
// stops naming this process. Meanwhile it follows the webhook policy of the
// state file.
func watch(ctx context.Context, log *slog.Logger, cp *ControlPlane, dir, name string, self proc) error {
	pidPath := filepath.Join(dir, pidFile)
	tick := time.NewTicker(watchdogInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			log.Info("stopping embedded cluster", "reason", context.Cause(ctx))
			return nil
		case <-cp.Done():
			return fmt.Errorf("control plane stopped on its own: %w", cp.Wait())
		case <-tick.C:
			p, err := readPID(pidPath)
			if err != nil || p != self {
				log.Warn("stopping embedded cluster: its pid file no longer names this process; the cluster was deleted or taken over", "pidFile", pidPath, "err", err)
				return nil
			}
			followWebhookPolicy(log, cp, dir, name)
		}
	}
}

// startOnPort starts the control plane on opts.Port, or on a free port
// when that one is taken (by another program since the last start).
func startOnPort(ctx context.Context, log *slog.Logger, opts Options) (*ControlPlane, error) {
	cp, err := Start(ctx, opts)
	if err != nil && opts.Port != 0 && errors.Is(err, syscall.EADDRINUSE) {
		log.Warn("the cluster's port is taken; using another (kubeconfig contexts written before need rewriting: envctl cluster kubeconfig NAME)", "port", opts.Port)
		opts.Port = 0
		cp, err = Start(ctx, opts)
	}
	return cp, err
}

// serverPort is the port of an https://127.0.0.1:PORT URL, or 0.
func serverPort(server string) int {
	var port int
	if _, err := fmt.Sscanf(server, "https://127.0.0.1:%d", &port); err != nil {
		return 0
	}
	return port
}

// readyWriter sends ready lines; a parent that stopped listening is not
// the serve process's problem.
type readyWriter struct{ w io.WriteCloser }

func (r *readyWriter) send(line string) {
	if r.w != nil {
		_, _ = io.WriteString(r.w, line+"\n")
	}
}

func (r *readyWriter) close() {
	if r.w != nil {
		_ = r.w.Close()
		r.w = nil
	}
}
