// Package kube builds the Kubernetes clients envctl's pipeline stages share:
// one HTTP client, a dynamic client, a clientset and a discovery-backed REST
// mapper over the same connection, plus what every stage needs on top of
// them: fingerprints of objects (Digest, FieldsHash), the one read of live
// objects by label (Client.ListLive), the one classification of API errors
// (ClassifyError), and a request counter that tests and benchmarks use to
// prove a no-op makes no writes.
package kube

import (
	"fmt"
	"net/http"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
)

// Client-side rate limits for envctl's clients. client-go's defaults (QPS 5,
// burst 10) would make a 1,000-object apply take minutes while the API server
// idles; the server's own priority and fairness protects it instead.
const (
	DefaultQPS   = 500
	DefaultBurst = 1000
)

// UserAgent identifies envctl's requests in API server audit logs.
const UserAgent = "envctl"

// Client bundles the clients of one cluster. Every client shares one HTTP
// client, so requests from the stages share connections (HTTP/2 streams).
type Client struct {
	// Config is the tuned configuration the clients were built from.
	Config *rest.Config
	// HTTP is the shared HTTP client.
	HTTP      *http.Client
	Dynamic   dynamic.Interface
	Clientset kubernetes.Interface
	// Mapper maps kinds to resources, from cached discovery.
	Mapper *Mapper
	// Discovery answers which kinds the cluster serves, uncached.
	Discovery discovery.DiscoveryInterface
	// Metadata reads objects' metadata only, for listings that need no
	// more (finding an environment's objects by label).
	Metadata metadata.Interface
	// raw is an unversioned REST client used for requests the dynamic client
	// cannot express, such as an apply that reports whether it created.
	raw rest.Interface
}

// Tune returns a copy of cfg with envctl's rate limits and user agent, used
// for envctl's own clients and for any baseline compared with them.
func Tune(cfg *rest.Config) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.QPS = DefaultQPS
	c.Burst = DefaultBurst
	if c.UserAgent == "" {
		c.UserAgent = UserAgent
	}
	return c
}

// New builds the clients for cfg, after tuning it. Every request goes
// through envctl's retry policy (see RetryBudget).
func New(cfg *rest.Config) (*Client, error) {
	cfg = Tune(cfg)
	cfg.Wrap(withRetry)
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	dyn, err := dynamic.NewForConfigAndClient(cfg, hc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes dynamic client: %w", err)
	}
	cs, err := kubernetes.NewForConfigAndClient(cfg, hc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes clientset: %w", err)
	}
	disc, err := discovery.NewDiscoveryClientForConfigAndClient(cfg, hc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes discovery client: %w", err)
	}
	md, err := metadata.NewForConfigAndClient(cfg, hc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes metadata client: %w", err)
	}
	rawCfg := dynamic.ConfigFor(cfg)
	rawCfg.GroupVersion = nil
	rawCfg.APIPath = ""
	raw, err := rest.UnversionedRESTClientForConfigAndClient(rawCfg, hc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes REST client: %w", err)
	}
	return &Client{
		Config:    cfg,
		HTTP:      hc,
		Dynamic:   dyn,
		Clientset: cs,
		Mapper:    NewMapper(disc),
		Discovery: disc,
		Metadata:  md,
		raw:       raw,
	}, nil
}
