package embedded

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"

	"github.com/spf13/pflag"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/client-go/tools/cache"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
	"k8s.io/kubernetes/cmd/kube-apiserver/app/options"

	"github.com/envctl/envctl/internal/cluster/embedded/webhooks"
)

// apiServerFlags are the kube-apiserver command-line flags of the embedded
// control plane. They are parsed by the API server's own flag set, so each
// one means exactly what the kube-apiserver documentation says.
func apiServerFlags(o *Options, p *pki, etcdURL string, port int) []string {
	flags := []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + p.dir,
		"--tls-cert-file=" + p.serverCert,
		"--tls-private-key-file=" + p.serverKey,
		"--client-ca-file=" + p.caCert,
		"--service-account-issuer=" + serviceAccountIssuer,
		"--service-account-key-file=" + p.saPub,
		"--service-account-signing-key-file=" + p.saKey,
		"--authorization-mode=Node,RBAC",
		// NodeRestriction on top of the default plugins, as kubeadm does.
		"--enable-admission-plugins=NodeRestriction",
		"--service-cluster-ip-range=" + o.ServiceCIDR,
		// Platform manifests (CNI-like DaemonSets, node exporters) ask for
		// privileged pods; kind and kubeadm clusters allow them, so must we.
		"--allow-privileged=true",
		// The "kubernetes" Service gets no endpoints: the only address the
		// server has is a loopback one, which Endpoints refuse, and no pod
		// could reach it anyway.
		"--endpoint-reconciler-type=none",
		// Aggregated API servers authenticate the aggregator by this
		// front-proxy identity.
		"--requestheader-client-ca-file=" + p.frontProxyCA,
		"--requestheader-allowed-names=" + frontProxyUser,
		"--requestheader-username-headers=X-Remote-User",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--proxy-client-cert-file=" + p.frontProxyCert,
		"--proxy-client-key-file=" + p.frontProxyKey,
		"--profiling=false",
	}
	return flags
}

// serviceAccountIssuer is the iss claim of service-account tokens, the value
// kubeadm clusters use.
const serviceAccountIssuer = "https://kubernetes.default.svc.cluster.local"

// apiServer is a prepared kube-apiserver, ready to run.
type apiServer struct {
	run func(ctx context.Context) error
}

// newAPIServer builds the kube-apiserver (aggregator, core APIs and
// apiextensions chained as in the real binary) on listener ln, with guard
// answering the webhooks that only a pod could serve.
func newAPIServer(ctx context.Context, o *Options, p *pki, etcdURL string, ln net.Listener, guard *webhooks.Guard) (*apiServer, error) {
	s := options.NewServerRunOptions()
	fs := pflag.NewFlagSet("kube-apiserver", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	for _, f := range s.Flags().FlagSets {
		fs.AddFlagSet(f)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := fs.Parse(apiServerFlags(o, p, etcdURL, port)); err != nil {
		return nil, fmt.Errorf("kube-apiserver flags: %w", err)
	}
	s.SecureServing.Listener = ln

	completed, err := s.Complete(ctx)
	if err != nil {
		return nil, fmt.Errorf("complete kube-apiserver options: %w", err)
	}
	if errs := completed.Validate(); len(errs) != 0 {
		return nil, fmt.Errorf("validate kube-apiserver options: %w", utilerrors.NewAggregate(errs))
	}
	cfg, err := app.NewConfig(completed)
	if err != nil {
		return nil, fmt.Errorf("configure kube-apiserver: %w", err)
	}
	gen := cfg.Aggregator.GenericConfig
	gen.BuildHandlerChainFunc, err = withVersion(gen.BuildHandlerChainFunc, serverVersion(gen.EffectiveVersion.Info()))
	if err != nil {
		return nil, err
	}
	if err := guardWebhooks(cfg, guard); err != nil {
		return nil, err
	}
	cc, err := cfg.Complete()
	if err != nil {
		return nil, fmt.Errorf("complete kube-apiserver config: %w", err)
	}
	chain, err := app.CreateServerChain(cc)
	if err != nil {
		return nil, fmt.Errorf("create kube-apiserver: %w", err)
	}
	prepared, err := chain.PrepareRun()
	if err != nil {
		return nil, fmt.Errorf("prepare kube-apiserver: %w", err)
	}
	return &apiServer{run: prepared.Run}, nil
}

// guardWebhooks makes the API server of cfg call guard instead of any
// webhook that only a pod could serve, so that it never dials a Service's
// ClusterIP or a URL off this machine:
//
//   - admission: the webhook plugins read their configurations from the
//     API server's shared informers, whose transform (set before they
//     start) points such webhooks at the guard, served on the API
//     server's own port ahead of its handler chain;
//   - CRD conversion: apiextensions builds each converter's client from
//     its authentication-info resolver, which hands out a client whose
//     transport is the guard.
func guardWebhooks(cfg *app.Config, guard *webhooks.Guard) error {
	adm := cfg.KubeAPIs.ControlPlane.VersionedInformers.Admissionregistration().V1()
	for name, inf := range map[string]cache.SharedIndexInformer{
		"validating": adm.ValidatingWebhookConfigurations().Informer(),
		"mutating":   adm.MutatingWebhookConfigurations().Informer(),
	} {
		if err := inf.SetTransform(guard.Transform); err != nil {
			return fmt.Errorf("guard %s webhooks: %w", name, err)
		}
	}
	ext := &cfg.ApiExtensions.ExtraConfig
	ext.AuthResolverWrapper = guard.ConversionResolver(ext.AuthResolverWrapper)
	ext.ServiceResolver = webhooks.ConversionServiceResolver(ext.ServiceResolver)
	gen := cfg.Aggregator.GenericConfig
	build := gen.BuildHandlerChainFunc
	gen.BuildHandlerChainFunc = func(api http.Handler, c *genericapiserver.Config) http.Handler {
		return guard.Wrap(build(api, c))
	}
	return nil
}
