package embedded

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apiserver/pkg/util/compatibility"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	basecompatibility "k8s.io/component-base/compatibility"

	"github.com/envctl/envctl/internal/cluster/embedded/nodesim"
	"github.com/envctl/envctl/internal/cluster/embedded/webhooks"
	"github.com/envctl/envctl/internal/errs"
)

// running is set while a control plane runs in this process.
var running atomic.Bool

// errNotAlone is returned by Start while another control plane runs.
var errNotAlone = errors.New("embedded cluster: another embedded control plane is running in this process; only one can run at a time")

// Start starts etcd and the Kubernetes control-plane components and returns
// once the API server answers /readyz. The control plane runs until ctx ends
// or Stop is called; WaitUsable waits for simulated nodes and the default
// service account.
func Start(ctx context.Context, opts Options) (*ControlPlane, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(opts.Port)))
	if err != nil {
		if opts.Port != 0 {
			return nil, errs.Inputf("embedded cluster: port %d on 127.0.0.1: %w", opts.Port, err)
		}
		return nil, fmt.Errorf("embedded cluster: listen: %w", err)
	}
	if !running.CompareAndSwap(false, true) {
		ln.Close()
		return nil, errNotAlone
	}
	cp, err := start(ctx, opts, ln)
	if err != nil {
		running.Store(false)
		return nil, err
	}
	return cp, nil
}

// start brings the components up in order on listener ln, which it closes
// on failure; whatever started before a failure is stopped again.
func start(ctx context.Context, opts Options, ln net.Listener) (cp *ControlPlane, err error) {
	r := newRunner(opts.Logger)
	r.add("listener", func() { ln.Close() }) // the API server closes it too; twice is harmless
	defer func() {
		if err != nil {
			r.stop()
		}
	}()
	if cp, err = prepare(opts, "https://"+ln.Addr().String()); err != nil {
		return nil, err
	}
	var sim *nodesim.Simulator
	if len(opts.Nodes) > 0 {
		if sim, err = newSimulator(cp.server, cp.pki, opts); err != nil {
			return nil, fmt.Errorf("embedded cluster: %w", err)
		}
		cp.nodeNames = sim.NodeNames()
	}

	began := time.Now()
	etcd, err := startEtcd(ctx, filepath.Join(opts.Dir, "etcd"), !opts.Durable, opts.Logger)
	if err != nil {
		return nil, fmt.Errorf("embedded cluster: %w", err)
	}
	r.add("etcd", etcd.stop)
	opts.Logger.Debug("embedded cluster: etcd ready", "elapsed", time.Since(began))

	api, err := newAPIServer(r.tier("kube-apiserver"), &opts, cp.pki, etcd.clientURL, ln, cp.guard)
	if err != nil {
		return nil, fmt.Errorf("embedded cluster: %w", err)
	}
	r.run("kube-apiserver", api.run)
	opts.Logger.Debug("embedded cluster: kube-apiserver configured", "elapsed", time.Since(began))
	if err := cp.waitAPI(ctx, r); err != nil {
		return nil, err
	}
	opts.Logger.Debug("embedded cluster: kube-apiserver ready", "elapsed", time.Since(began))
	if err := cp.waitAuthorized(ctx, r.failures(), componentAccess); err != nil {
		return nil, err
	}
	opts.Logger.Debug("embedded cluster: components authorized", "elapsed", time.Since(began))

	ctrlCtx := r.tier("controllers")
	kcm, err := newControllerManager(ctrlCtx, cp.pki, cp.componentKubeconfig("controller-manager"))
	if err != nil {
		return nil, fmt.Errorf("embedded cluster: %w", err)
	}
	r.run("kube-controller-manager", kcm.run)
	sched, err := newScheduler(ctrlCtx, opts.Dir, cp.componentKubeconfig("scheduler"))
	if err != nil {
		return nil, fmt.Errorf("embedded cluster: %w", err)
	}
	r.run("kube-scheduler", sched.run)
	if sim != nil {
		r.run("node-simulator", sim.Run)
	}

	go cp.supervise(ctx, r)
	return cp, nil
}

// prepare creates the state directory, the credentials and the components'
// kubeconfigs: everything written before a component starts.
func prepare(opts Options, server string) (*ControlPlane, error) {
	if err := os.MkdirAll(opts.Dir, dirMode); err != nil {
		return nil, fmt.Errorf("embedded cluster: create state dir: %w", err)
	}
	if err := os.Chmod(opts.Dir, dirMode); err != nil {
		return nil, fmt.Errorf("embedded cluster: state dir: %w", err)
	}
	bridgeKlog(opts.Logger)
	if err := setComponentGlobals(); err != nil {
		return nil, err
	}
	p, err := newPKI(filepath.Join(opts.Dir, "pki"),
		[]net.IP{net.IPv4(127, 0, 0, 1), serviceIP(opts.ServiceCIDR)},
		[]string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"})
	if err != nil {
		return nil, fmt.Errorf("embedded cluster: %w", err)
	}
	admin, err := restConfig(server, p.ca.certPEM(), p.admin)
	if err != nil {
		return nil, fmt.Errorf("embedded cluster: %w", err)
	}
	cp := &ControlPlane{
		dir:     opts.Dir,
		server:  server,
		pki:     p,
		admin:   admin,
		logger:  opts.Logger,
		stopReq: make(chan struct{}),
		done:    make(chan struct{}),
	}
	if err := cp.writeComponentKubeconfigs(); err != nil {
		return nil, err
	}
	if cp.guard, err = webhooks.NewGuard(opts.Webhooks, server, p.ca.certPEM(), opts.Logger); err != nil {
		return nil, errs.Input(fmt.Errorf("embedded cluster: %w", err))
	}
	return cp, nil
}

var (
	globalsOnce sync.Once
	globalsErr  error
)

// setComponentGlobals registers the Kubernetes component (its effective
// version and feature gates) in the process-wide registry the API server,
// the controller manager and the scheduler all read, once per process.
func setComponentGlobals() error {
	globalsOnce.Do(func() {
		reg := compatibility.DefaultComponentGlobalsRegistry
		if reg.EffectiveVersionFor(basecompatibility.DefaultKubeComponent) == nil {
			// The components' option constructors register it lazily
			// too, each checking first; registering here lets Set run
			// before any of them.
			globalsErr = reg.Register(basecompatibility.DefaultKubeComponent,
				compatibility.DefaultBuildEffectiveVersion(), utilfeature.DefaultMutableFeatureGate)
			if globalsErr != nil {
				return
			}
		}
		globalsErr = reg.Set()
	})
	if globalsErr != nil {
		return fmt.Errorf("embedded cluster: component versions: %w", globalsErr)
	}
	return nil
}
