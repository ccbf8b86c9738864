package render

import (
	"sync"

	"helm.sh/helm/v3/pkg/action"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

// ClusterLookup gives chart templates' lookup function read access to the
// cluster behind cfg, for Options.Cluster. It matters only when
// render.allowChartLookup is set; the engine, which has a cluster, passes
// one, while `envctl render` has none and lookups return nothing.
func ClusterLookup(cfg *rest.Config) action.RESTClientGetter {
	return &restGetter{cfg: rest.CopyConfig(cfg)}
}

// restGetter adapts a rest.Config to what Helm asks of a cluster. Discovery
// and the REST mapper are built once, on first use.
type restGetter struct {
	cfg *rest.Config

	once   sync.Once
	disc   discovery.CachedDiscoveryInterface
	mapper meta.RESTMapper
	err    error
}

// ToRESTConfig implements action.RESTClientGetter.
func (g *restGetter) ToRESTConfig() (*rest.Config, error) { return rest.CopyConfig(g.cfg), nil }

// ToDiscoveryClient implements action.RESTClientGetter.
func (g *restGetter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	g.init()
	return g.disc, g.err
}

// ToRESTMapper implements action.RESTClientGetter.
func (g *restGetter) ToRESTMapper() (meta.RESTMapper, error) {
	g.init()
	return g.mapper, g.err
}

func (g *restGetter) init() {
	g.once.Do(func() {
		dc, err := discovery.NewDiscoveryClientForConfig(g.cfg)
		if err != nil {
			g.err = err
			return
		}
		g.disc = memory.NewMemCacheClient(dc)
		g.mapper = restmapper.NewDeferredDiscoveryRESTMapper(g.disc)
	})
}
