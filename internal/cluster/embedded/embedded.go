// Package embedded runs a Kubernetes control plane inside the envctl process:
// etcd, kube-apiserver, kube-controller-manager and kube-scheduler, built from
// the Kubernetes release envctl is compiled against, plus a node simulator
// (package nodesim) that stands in for kubelets.
//
// It gives real API validation, defaulting, admission, RBAC, CRDs,
// server-side apply, garbage collection and scheduling without a container
// runtime. No container ever runs: pods on simulated nodes are reported
// Running and Ready, and nothing serves on their IPs.
//
// Everything listens on 127.0.0.1 only, clients authenticate with
// certificates issued by a CA kept in the state directory, and every
// credential file is readable by its owner only.
//
// One control plane runs in a process at a time: the Kubernetes components
// keep process-wide registries (informer names, metrics, /configz) that a
// second instance would collide with. A control plane that has stopped
// releases them, so another can start after it.
//
// Start runs a control plane inside the caller (tests do, through package
// testenv). Provider, the "embedded" cluster provider, runs each cluster in
// a detached process of its own instead: `envctl cluster serve NAME`, which
// calls Serve and outlives the command that created the cluster; its state,
// log and data live in cluster.ClusterDir(stateDir, "embedded", NAME).
package embedded

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"

	"github.com/envctl/envctl/internal/cluster/embedded/nodesim"
	"github.com/envctl/envctl/internal/cluster/embedded/webhooks"
	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/errs"
)

// Defaults of Options.
const (
	DefaultServiceCIDR = "10.96.0.0/16"
	DefaultPodCIDR     = nodesim.DefaultPodCIDR
)

// Options configure an embedded control plane.
type Options struct {
	// Dir holds the state: etcd data, certificates and kubeconfigs. It is
	// created owner-only when missing; a directory from an earlier run is
	// reused, certificate authorities and data included.
	Dir string
	// Port is the API server's port on 127.0.0.1; 0 picks a free one.
	Port int
	// Nodes are the simulated nodes. With none, pods stay Pending.
	Nodes []config.NodePool
	// ServiceCIDR is the Service cluster-IP range; DefaultServiceCIDR when empty.
	ServiceCIDR string
	// PodCIDR is split into one /24 per simulated node for pod IPs;
	// DefaultPodCIDR when empty.
	PodCIDR string
	// Durable makes etcd fsync its writes (WAL and backend). Off by
	// default: a development or CI cluster is disposable, and with fsync
	// every write waits for the disk. On the 2-core CI VM the difference
	// was within noise (200 sequential creates 0.45 s without, 0.6 s with);
	// on disks with slow fsync (network volumes, some laptops) it is what
	// write latency consists of.
	Durable bool
	// Webhooks is the policy for webhooks that only a pod could serve
	// (config.WebhooksSkip or config.WebhooksFail; skip when empty); see
	// package webhooks. SetWebhookPolicy changes it while the cluster runs.
	Webhooks string
	// Logger receives the components' logs, demoted so that nothing reaches
	// a terminal at the default level; slog.Default() when nil.
	Logger *slog.Logger
}

func (o *Options) defaults() error {
	if o.Dir == "" {
		return errs.Inputf("embedded cluster: no state directory given")
	}
	if o.Port < 0 || o.Port > 65535 {
		return errs.Inputf("embedded cluster: port %d is out of range", o.Port)
	}
	if o.ServiceCIDR == "" {
		o.ServiceCIDR = DefaultServiceCIDR
	}
	if o.PodCIDR == "" {
		o.PodCIDR = DefaultPodCIDR
	}
	for _, cidr := range []string{o.ServiceCIDR, o.PodCIDR} {
		if _, _, err := net.ParseCIDR(cidr); err != nil {
			return errs.Inputf("embedded cluster: %q is not a CIDR", cidr)
		}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Webhooks != "" && o.Webhooks != config.WebhooksSkip && o.Webhooks != config.WebhooksFail {
		return errs.Inputf("embedded cluster: unknown webhook policy %q; want %s or %s", o.Webhooks, config.WebhooksSkip, config.WebhooksFail)
	}
	// Checked before anything is written or started: a bad pool is the
	// user's to fix, and names the pool.
	if err := nodesim.Validate(simulatorOptions(*o)); err != nil {
		return fmt.Errorf("embedded cluster: %w", err)
	}
	return nil
}

// ControlPlane is a running embedded control plane.
type ControlPlane struct {
	dir    string
	server string
	pki    *pki
	admin  *rest.Config
	logger *slog.Logger
	// nodeNames are the simulated nodes WaitUsable waits for.
	nodeNames []string
	// guard answers the webhooks that only a pod could serve.
	guard *webhooks.Guard

	stopOnce sync.Once
	stopReq  chan struct{}
	done     chan struct{}
	err      error
}

// serviceIP is the first address of the service range, which the API server
// gives to the "kubernetes" Service and so must appear in its certificate.
func serviceIP(cidr string) net.IP {
	_, n, err := net.ParseCIDR(cidr)
	if err != nil {
		return nil
	}
	ip := n.IP.To4()
	if ip == nil {
		ip = n.IP.To16()
	}
	out := make(net.IP, len(ip))
	copy(out, ip)
	out[len(out)-1]++
	return out
}

// supervise stops the control plane when ctx ends, Stop is called or a
// component fails, whichever comes first.
func (cp *ControlPlane) supervise(ctx context.Context, r *runner) {
	var err error
	select {
	case <-ctx.Done():
	case <-cp.stopReq:
	case err = <-r.failures():
		cp.logger.Warn("embedded cluster component failed; stopping the cluster", "error", err)
	}
	r.stop()
	cp.err = err
	running.Store(false)
	close(cp.done)
}

// Stop stops the control plane — controllers first, then the API server,
// then etcd — and waits until everything has returned. It returns the error
// of a component that failed on its own before, if any.
func (cp *ControlPlane) Stop() error {
	cp.stopOnce.Do(func() { close(cp.stopReq) })
	return cp.Wait()
}

// Wait blocks until the control plane has stopped and returns the error of
// the component whose failure stopped it, or nil.
func (cp *ControlPlane) Wait() error {
	<-cp.done
	return cp.err
}

// WebhookPolicy is the policy for webhooks that only a pod could serve.
func (cp *ControlPlane) WebhookPolicy() string { return cp.guard.Policy() }

// SetWebhookPolicy changes the policy for webhooks that only a pod could
// serve (config.WebhooksSkip or config.WebhooksFail); calls from now on
// follow it.
func (cp *ControlPlane) SetWebhookPolicy(policy string) error {
	if err := cp.guard.SetPolicy(policy); err != nil {
		return errs.Input(fmt.Errorf("embedded cluster: %w", err))
	}
	return nil
}

// Done is closed once the control plane has stopped.
func (cp *ControlPlane) Done() <-chan struct{} { return cp.done }

// Dir is the state directory.
func (cp *ControlPlane) Dir() string { return cp.dir }

// Server is the API server URL, https://127.0.0.1:PORT.
func (cp *ControlPlane) Server() string { return cp.server }

// RESTConfig returns a cluster-admin client configuration. Each call returns
// a fresh copy the caller may modify.
func (cp *ControlPlane) RESTConfig() *rest.Config { return rest.CopyConfig(cp.admin) }

// Kubeconfig returns a cluster-admin kubeconfig whose cluster, user and
// context are all named contextName.
func (cp *ControlPlane) Kubeconfig(contextName string) ([]byte, error) {
	if contextName == "" {
		return nil, errors.New("embedded cluster: kubeconfig needs a context name")
	}
	return kubeconfig(cp.server, cp.pki.ca.certPEM(), cp.pki.admin, contextName)
}

// componentKubeconfig is the path of a component's kubeconfig file.
func (cp *ControlPlane) componentKubeconfig(component string) string {
	return filepath.Join(cp.dir, component+".kubeconfig")
}

// writeComponentKubeconfigs writes the kubeconfig files the controller
// manager and the scheduler read, and admin.kubeconfig for the user.
func (cp *ControlPlane) writeComponentKubeconfigs() error {
	files := []struct {
		name string
		kp   keyPair
	}{
		{"controller-manager", cp.pki.controllerManager},
		{"scheduler", cp.pki.scheduler},
		{"admin", cp.pki.admin},
	}
	for _, f := range files {
		data, err := kubeconfig(cp.server, cp.pki.ca.certPEM(), f.kp, "envctl-embedded")
		if err != nil {
			return fmt.Errorf("embedded cluster: %s kubeconfig: %w", f.name, err)
		}
		if err := writeFile(cp.componentKubeconfig(f.name), data); err != nil {
			return fmt.Errorf("embedded cluster: %w", err)
		}
	}
	return nil
}

// waitAPI polls /readyz until the API server is ready, a component fails or
// ctx ends.
func (cp *ControlPlane) waitAPI(ctx context.Context, r *runner) error {
	client, err := rest.UnversionedRESTClientFor(withNegotiatedSerializer(cp.RESTConfig()))
	if err != nil {
		return fmt.Errorf("embedded cluster: client: %w", err)
	}
	var lastErr string
	return pollUntil(ctx, r.failures(), 50*time.Millisecond, func() bool {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		res := client.Get().AbsPath("/readyz").Do(rctx)
		cancel()
		var code int
		res.StatusCode(&code)
		if code == 200 {
			return true
		}
		if err := res.Error(); err != nil && err.Error() != lastErr {
			lastErr = err.Error()
			cp.logger.Debug("embedded cluster: waiting for kube-apiserver", "readyz", lastErr)
		}
		return false
	}, func(err error) error {
		return errs.Timeout(fmt.Errorf("embedded cluster: API server not ready: %w", err))
	})
}

// pollUntil calls done every interval until it returns true (nil), a
// component of the control plane fails (that failure), or ctx ends
// (onEnd of ctx's error).
func pollUntil(ctx context.Context, failures <-chan error, every time.Duration, done func() bool, onEnd func(error) error) error {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for !done() {
		select {
		case err := <-failures:
			return fmt.Errorf("embedded cluster: %w", err)
		case <-ctx.Done():
			return onEnd(ctx.Err())
		case <-tick.C:
		}
	}
	return nil
}

// withNegotiatedSerializer prepares cfg for an unversioned REST client.
func withNegotiatedSerializer(cfg *rest.Config) *rest.Config {
	cfg.NegotiatedSerializer = serializer.WithoutConversionCodecFactory{CodecFactory: scheme.Codecs}
	cfg.GroupVersion = nil
	cfg.APIPath = "/"
	return cfg
}

// accessCheck is one request a user must be authorized for.
type accessCheck struct {
	user  string
	attrs authorizationv1.ResourceAttributes
}

// componentAccess is what the controller manager and the scheduler do
// first, which their bootstrap RBAC roles allow.
var componentAccess = []accessCheck{
	// kube-controller-manager with --use-service-account-credentials
	// reads each controller's service account before the controller
	// starts, and stops altogether when that is forbidden.
	{controllerManagerUser, authorizationv1.ResourceAttributes{Namespace: "kube-system", Verb: "get", Resource: "serviceaccounts"}},
	// kube-scheduler lists pods from its first moment.
	{schedulerUser, authorizationv1.ResourceAttributes{Verb: "list", Resource: "pods"}},
}

// authorizeTimeout bounds waitAuthorized: the authorizer's caches catch up
// within milliseconds of /readyz; a minute means they never will.
const authorizeTimeout = time.Minute

// waitAuthorized waits until the API server's authorizer allows each check
// (componentAccess: what the controller manager and the scheduler do
// first). /readyz answers 200 once the bootstrap RBAC roles are stored,
// but the authorizer reads them from its informers' caches, which may not
// have caught up yet on a loaded machine: a controller manager started in
// that window was refused its first request and stopped the cluster.
func (cp *ControlPlane) waitAuthorized(ctx context.Context, failures <-chan error, checks []accessCheck) error {
	ctx, cancel := context.WithTimeout(ctx, authorizeTimeout)
	defer cancel()
	client, err := kubernetes.NewForConfig(cp.RESTConfig())
	if err != nil {
		return fmt.Errorf("embedded cluster: client: %w", err)
	}
	i := 0
	return pollUntil(ctx, failures, 20*time.Millisecond, func() bool {
		for ; i < len(checks); i++ {
			c := checks[i]
			review := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
				User:               c.user,
				ResourceAttributes: &c.attrs,
			}}
			rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
			got, err := client.AuthorizationV1().SubjectAccessReviews().Create(rctx, review, metav1.CreateOptions{})
			rcancel()
			switch {
			case err != nil:
				cp.logger.Debug("embedded cluster: waiting for the components' RBAC", "user", c.user, "err", err)
				return false
			case !got.Status.Allowed:
				cp.logger.Debug("embedded cluster: waiting for the components' RBAC", "user", c.user, "reason", got.Status.Reason)
				return false
			}
		}
		return true
	}, func(err error) error {
		c := checks[i]
		return errs.Timeout(fmt.Errorf("embedded cluster: the API server does not authorize %s to %s %s: %w",
			c.user, c.attrs.Verb, c.attrs.Resource, err))
	})
}
