package kube

import (
	"context"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/restmapper"
)

// minResetInterval keeps a burst of lookups for unknown kinds from turning
// into a burst of discovery requests.
const minResetInterval = time.Second

// Mapper maps kinds to REST resources from discovery, cached in memory for
// the life of a run. It is reset after CRDs are established, and once (at
// most every second) when asked for a kind it does not know, since the kind
// may have been registered since the cache was filled.
type Mapper struct {
	deferred *restmapper.DeferredDiscoveryRESTMapper

	mu        sync.Mutex
	lastReset time.Time
}

// NewMapper returns a mapper over disc.
func NewMapper(disc discovery.DiscoveryInterface) *Mapper {
	return &Mapper{
		deferred: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc)),
	}
}

// Reset forgets the cached discovery information.
func (m *Mapper) Reset() {
	m.mu.Lock()
	m.lastReset = time.Now()
	m.mu.Unlock()
	m.deferred.Reset()
}

// Mapping returns the REST mapping of gvk. An unknown kind gives an error
// for which meta.IsNoMatchError is true.
func (m *Mapper) Mapping(ctx context.Context, gvk schema.GroupVersionKind) (*meta.RESTMapping, error) {
	mapping, err := m.deferred.RESTMappingWithContext(ctx, gvk.GroupKind(), gvk.Version)
	if err == nil || !meta.IsNoMatchError(err) {
		return mapping, err
	}
	if !m.resetIfStale() {
		return nil, err
	}
	return m.deferred.RESTMappingWithContext(ctx, gvk.GroupKind(), gvk.Version)
}

// resetIfStale resets the cache unless it was reset within the last
// minResetInterval, and reports whether it did.
func (m *Mapper) resetIfStale() bool {
	m.mu.Lock()
	if time.Since(m.lastReset) < minResetInterval {
		m.mu.Unlock()
		return false
	}
	m.lastReset = time.Now()
	m.mu.Unlock()
	m.deferred.Reset()
	return true
}

// UnknownKindError says that the cluster serves no resource for a kind.
type UnknownKindError struct {
	GVK schema.GroupVersionKind
}

func (e *UnknownKindError) Error() string {
	if e.GVK.Group == "" {
		return fmt.Sprintf("the cluster has no kind %s in %s", e.GVK.Kind, e.GVK.Version)
	}
	return fmt.Sprintf("the cluster has no kind %s in %s/%s (is its CustomResourceDefinition installed?)", e.GVK.Kind, e.GVK.Group, e.GVK.Version)
}
