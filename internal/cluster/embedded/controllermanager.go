package embedded

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/component-base/configz"
	"k8s.io/kubernetes/cmd/kube-controller-manager/app"
	"k8s.io/kubernetes/cmd/kube-controller-manager/app/options"
)

// controllerManagerFlags are the kube-controller-manager flags of the
// embedded control plane, as a kubeadm cluster would set them.
func controllerManagerFlags(p *pki, kubeconfigPath string) []string {
	return []string{
		"--kubeconfig=" + kubeconfigPath,
		// One process, one instance: there is nobody to elect.
		"--leader-elect=false",
		// Health and metrics endpoints of the components are not needed:
		// nothing listens but the API server.
		"--secure-port=0",
		// Every controller acts under its own service account, as in kubeadm
		// clusters, so RBAC denials look the same as in production.
		"--use-service-account-credentials=true",
		"--service-account-private-key-file=" + p.saKey,
		"--root-ca-file=" + p.caCert,
		// CertificateSigningRequests for the kubernetes.io signers are
		// signed by the cluster CA, as in kubeadm clusters.
		"--cluster-signing-cert-file=" + p.caCert,
		"--cluster-signing-key-file=" + p.caKey,
		"--controllers=*",
		// Each controller fetches its service-account token at start; at
		// the default 20 QPS that alone takes five seconds.
		"--kube-api-qps=400",
		"--kube-api-burst=800",
		"--profiling=false",
		// The simulated nodes' leases are renewed every 10 s; the default
		// grace period (50 s) stands.
	}
}

// controllerManager is a configured kube-controller-manager.
type controllerManager struct {
	run func(ctx context.Context) error
}

// newControllerManager configures the kube-controller-manager, connecting with
// the kubeconfig at kubeconfigPath.
func newControllerManager(ctx context.Context, p *pki, kubeconfigPath string) (*controllerManager, error) {
	// The /configz registry is process-global and refuses a second
	// registration; it is served only on the secure port, which is off, so
	// an entry left by an earlier control plane in this process can go.
	configz.Delete(app.ConfigzName)
	s, err := options.NewKubeControllerManagerOptions()
	if err != nil {
		return nil, fmt.Errorf("kube-controller-manager options: %w", err)
	}
	known, disabled, aliases := app.KnownControllers(), app.ControllersDisabledByDefault(), app.ControllerAliases()
	named := s.Flags(known, disabled, aliases)
	fs := pflag.NewFlagSet("kube-controller-manager", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	for _, f := range named.FlagSets {
		fs.AddFlagSet(f)
	}
	if err := fs.Parse(controllerManagerFlags(p, kubeconfigPath)); err != nil {
		return nil, fmt.Errorf("kube-controller-manager flags: %w", err)
	}
	// Controllers get this long to finish after the context ends; the
	// default 10 s only delays the stop of a throwaway cluster.
	s.ControllerShutdownTimeout = 2 * time.Second

	c, err := s.Config(ctx, known, disabled, aliases)
	if err != nil {
		return nil, fmt.Errorf("configure kube-controller-manager: %w", err)
	}
	completed := c.Complete()
	return &controllerManager{run: func(ctx context.Context) error {
		return app.Run(ctx, completed)
	}}, nil
}
