package embedded

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/envctl/envctl/internal/cluster"
	"github.com/envctl/envctl/internal/cluster/embedded/nodesim"
	kubecfg "github.com/envctl/envctl/internal/cluster/kubeconfig"
	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/errs"
)

func init() {
	cluster.Register(config.ProviderEmbedded, func(opts cluster.Options) (cluster.Provider, error) {
		return NewProvider(opts), nil
	})
}

// probeTimeout bounds how long List and Ensure wait for a cluster's API
// server to say its version.
const probeTimeout = 3 * time.Second

// Provider runs embedded clusters as detached processes: each cluster is
// an `envctl cluster serve NAME` process, started by Ensure, that keeps
// running after the command that started it exits, until Delete stops it.
//
// A cluster's state directory, cluster.ClusterDir(StateDir, "embedded",
// NAME), holds everything: the state file (cluster.json), the serve
// process's pid file and log, and what Start keeps (etcd data,
// certificates, kubeconfigs). A cluster whose process has gone (a reboot,
// a crash, a kill) is restarted from it by the next Ensure, objects and
// credentials included.
type Provider struct {
	opts cluster.Options
	// exe is the envctl binary the serve process runs; empty means this
	// process's own executable.
	exe string
	// stopGrace is how long Delete gives the serve process to stop after
	// SIGTERM before it is killed.
	stopGrace time.Duration
}

var _ cluster.Provider = (*Provider)(nil)

// NewProvider returns the embedded provider. It starts nothing and reads
// nothing until asked.
func NewProvider(opts cluster.Options) *Provider {
	return &Provider{opts: opts, stopGrace: 30 * time.Second}
}

// Name returns "embedded".
func (p *Provider) Name() string { return config.ProviderEmbedded }

func (p *Provider) log() *slog.Logger { return p.opts.Log() }

// stateRoot is the absolute state root the serve process is given, so
// that it does not depend on the environment it inherits.
func (p *Provider) stateRoot() (string, error) {
	root := p.opts.StateDir
	if root == "" {
		var err error
		if root, err = cluster.StateDir(); err != nil {
			return "", err
		}
	}
	return filepath.Abs(root)
}

// dir is the state directory of cluster name.
func (p *Provider) dir(name string) (string, error) {
	if err := cluster.ValidateName(name); err != nil {
		return "", err
	}
	root, err := p.stateRoot()
	if err != nil {
		return "", err
	}
	return cluster.ClusterDir(root, config.ProviderEmbedded, name)
}

// ClusterDir is the state directory of cluster name, where package cluster
// records the kubeconfig files the cluster's context was written to.
func (p *Provider) ClusterDir(name string) (string, error) { return p.dir(name) }

// Exists reports whether cluster name has a state directory, whatever its
// condition: a damaged one exists, so that Delete can be found for it.
func (p *Provider) Exists(_ context.Context, name string) (bool, error) {
	dir, err := p.dir(name)
	if err != nil {
		return false, err
	}
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("embedded cluster %s: %w", name, err)
	}
	return fi.IsDir(), nil
}

// servingProc returns the serve process named by dir's pid file when it is
// alive. A pid file whose process is gone, or whose pid now belongs to
// another program, is stale: the result is false.
func servingProc(dir string) (proc, bool, error) {
	path := filepath.Join(dir, pidFile)
	p, err := readPID(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return proc{}, false, nil
	case err != nil:
		return proc{}, false, err
	}
	return p, p.alive(), nil
}

// server returns the cluster's serve process and whether it is alive: the
// one the pid file names, or, when that file is damaged, one found by its
// command line. A stale pid file's process is returned for the message.
func (p *Provider) server(dir, root, name string) (proc, bool) {
	pr, ok, err := servingProc(dir)
	if ok {
		return pr, true
	}
	if err != nil {
		p.log().Warn("ignoring a damaged pid file", "cluster", name, "err", err)
	}
	if found := findServers(root, name); len(found) > 0 {
		return found[0], true
	}
	return pr, false
}

// nodePools are the simulated nodes an environment declares, with the
// defaults configuration applies (one node named "node" when none).
func nodePools(spec *config.EmbeddedSpec) []config.NodePool {
	if spec == nil || len(spec.Nodes) == 0 {
		return []config.NodePool{{Name: nodesim.DefaultPoolName, Count: 1}}
	}
	pools := make([]config.NodePool, len(spec.Nodes))
	for i, pool := range spec.Nodes {
		if pool.Name == "" {
			pool.Name = nodesim.DefaultPoolName
		}
		if pool.Count == 0 {
			pool.Count = 1
		}
		pools[i] = pool
	}
	return pools
}

// Delete stops the cluster's serve process (SIGTERM, then SIGKILL after a
// grace period) and removes its state directory. It works on a damaged
// state directory too: it needs nothing from it but the name.
func (p *Provider) Delete(ctx context.Context, name string) error {
	dir, err := p.dir(name)
	if err != nil {
		return err
	}
	root, err := p.stateRoot()
	if err != nil {
		return err
	}
	lock, err := lockDir(ctx, dir, lockFile, false, nil)
	if errors.Is(err, errNoDir) {
		return cluster.NotFound(config.ProviderEmbedded, name)
	}
	if err != nil {
		return fmt.Errorf("embedded cluster %s: %w", name, err)
	}
	defer lock.unlock()

	procs := findServers(root, name)
	if pr, ok, err := servingProc(dir); err != nil {
		p.log().Warn("ignoring a damaged pid file; looked for the serve process by its command line", "cluster", name, "err", err)
	} else if ok && !containsPID(procs, pr.PID) {
		procs = append(procs, pr)
	}
	for _, pr := range procs {
		p.log().Debug("stopping serve process", "cluster", name, "pid", pr.PID)
		if err := terminate(ctx, pr, p.stopGrace); err != nil {
			return errs.Cluster(fmt.Errorf("embedded cluster %s: %w; its state in %s is kept", name, err, dir))
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("embedded cluster %s: remove %s: %w", name, dir, err)
	}
	return nil
}

func containsPID(procs []proc, pid int) bool {
	for _, p := range procs {
		if p.PID == pid {
			return true
		}
	}
	return false
}

// List returns every embedded cluster in the state directory: running
// when its serve process is alive and its API server answers, stopped
// when the process is gone, unknown (with why) when the state is damaged
// or the process runs but its API server does not answer.
func (p *Provider) List(ctx context.Context) ([]cluster.Info, error) {
	root, err := p.stateRoot()
	if err != nil {
		return nil, err
	}
	base, err := cluster.ClusterDir(root, config.ProviderEmbedded, "")
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(base)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list embedded clusters: %w", err)
	}
	var out []cluster.Info
	for _, e := range entries {
		if !e.IsDir() || cluster.ValidateName(e.Name()) != nil {
			continue
		}
		out = append(out, p.status(ctx, filepath.Join(base, e.Name()), e.Name()))
	}
	return out, nil
}

// status describes one cluster for List.
func (p *Provider) status(ctx context.Context, dir, name string) cluster.Info {
	in := cluster.Info{Name: name, Provider: config.ProviderEmbedded, Context: kubecfg.ContextName(name)}
	st, err := readState(dir, name)
	if errors.Is(err, os.ErrNotExist) {
		in.Status = cluster.StatusUnknown
		in.Message = fmt.Sprintf("%s has no %s: it is being created, or its creation was interrupted; `envctl cluster delete %s` removes it", dir, stateFile, name)
		return in
	}
	if err != nil {
		in.Status, in.Message = cluster.StatusUnknown, err.Error()
		return in
	}
	in.Created, in.Server = st.Created, st.Server
	root, err := p.stateRoot()
	if err != nil {
		in.Status, in.Message = cluster.StatusUnknown, err.Error()
		return in
	}
	pr, ok := p.server(dir, root, name)
	if !ok || !pr.running() {
		in.Status = cluster.StatusStopped
		in.Message = fmt.Sprintf("its serve process is not running; `envctl cluster create %s --provider embedded` restarts it", name)
		return in
	}
	rc, err := p.restConfig(dir, name)
	if err == nil {
		in.Version, in.Nodes, err = cluster.Probe(ctx, rc, probeTimeout)
	}
	if err != nil {
		in.Status = cluster.StatusUnknown
		in.Message = fmt.Sprintf("serve process %d is running but the API server does not answer: %v", pr.PID, err)
		return in
	}
	in.Status = cluster.StatusRunning
	return in
}

// RESTConfig returns a cluster-admin client configuration from the
// cluster's state directory.
func (p *Provider) RESTConfig(ctx context.Context, name string) (*rest.Config, error) {
	dir, err := p.existing(ctx, name)
	if err != nil {
		return nil, err
	}
	return p.restConfig(dir, name)
}

func (p *Provider) restConfig(dir, name string) (*rest.Config, error) {
	data, err := p.adminKubeconfig(dir, name)
	if err != nil {
		return nil, err
	}
	rc, err := clientcmd.RESTConfigFromKubeConfig(data)
	if err != nil {
		return nil, damaged(name, filepath.Join(dir, adminKubeconfig), "is not a valid kubeconfig ("+err.Error()+")")
	}
	// As for the in-process control plane: client-go's default 5 QPS
	// would throttle an apply against a server that takes far more.
	rc.QPS, rc.Burst = 200, 400
	return rc, nil
}

// Kubeconfig returns a cluster-admin kubeconfig, credentials inlined,
// whose only context is kubecfg.ContextName(name).
func (p *Provider) Kubeconfig(ctx context.Context, name string) ([]byte, error) {
	dir, err := p.existing(ctx, name)
	if err != nil {
		return nil, err
	}
	data, err := p.adminKubeconfig(dir, name)
	if err != nil {
		return nil, err
	}
	out, err := kubecfg.ForCluster(data, name)
	if err != nil {
		return nil, damaged(name, filepath.Join(dir, adminKubeconfig), "is not a valid kubeconfig ("+err.Error()+")")
	}
	return out, nil
}

// existing returns the state directory of a cluster that exists.
func (p *Provider) existing(ctx context.Context, name string) (string, error) {
	ok, err := p.Exists(ctx, name)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", cluster.NotFound(config.ProviderEmbedded, name)
	}
	return p.dir(name)
}

func (p *Provider) adminKubeconfig(dir, name string) ([]byte, error) {
	path := filepath.Join(dir, adminKubeconfig)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, damaged(name, path, "is missing (the cluster never started, or its state was damaged)")
	}
	if err != nil {
		return nil, fmt.Errorf("embedded cluster %s: %w", name, err)
	}
	return data, nil
}

// samePools reports whether two node pool lists declare the same nodes.
func samePools(a, b []config.NodePool) bool {
	return reflect.DeepEqual(normalizePools(a), normalizePools(b))
}

func normalizePools(pools []config.NodePool) []config.NodePool {
	out := make([]config.NodePool, len(pools))
	for i, p := range pools {
		if len(p.Labels) == 0 {
			p.Labels = nil
		}
		if len(p.Taints) == 0 {
			p.Taints = nil
		}
		if len(p.Capacity) == 0 {
			p.Capacity = nil
		}
		if len(p.Allocatable) == 0 {
			p.Allocatable = nil
		}
		out[i] = p
	}
	return out
}
