package loop

import (
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"
)

// discoveryDelay gathers the changes of a burst (a chart installing its
// CRDs) into one new render.
const discoveryDelay = 500 * time.Millisecond

// apiDefinitions are the kinds whose objects change what the cluster
// serves: a chart may gate objects on .Capabilities.APIVersions.Has of one.
var apiDefinitions = []schema.GroupVersionResource{
	{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"},
	{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"},
}

// discoveryWatch watches the cluster's API definitions (metadata only) and
// calls changed, once per burst, whenever one is added, changed (becoming
// established moves its version) or removed after the watches listed them.
type discoveryWatch struct {
	once    sync.Once
	changed func()
	stop    context.CancelFunc
}

// start begins the watches; later calls do nothing. A watch the daemon may
// not make (its RBAC) logs once and leaves the loop to new revisions.
func (w *discoveryWatch) start(ctx context.Context, l *Loop) {
	w.once.Do(func() {
		mc, err := metadata.NewForConfig(l.client.Config)
		if err != nil {
			l.log.Warn("cannot watch the cluster's API definitions; charts render again on the next revision only", "err", err)
			return
		}
		ctx, w.stop = context.WithCancel(ctx)
		events := make(chan struct{}, 1)
		for _, gvr := range apiDefinitions {
			inf := metadatainformer.NewFilteredMetadataInformer(mc, gvr, "", 0, cache.Indexers{}, nil).Informer()
			_ = inf.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
				l.log.Debug("watch of API definitions", "resource", gvr.Resource, "err", err)
			})
			notify := func() { signal(events) }
			_, _ = inf.AddEventHandler(cache.ResourceEventHandlerDetailedFuncs{
				AddFunc: func(_ any, initial bool) {
					if !initial {
						notify()
					}
				},
				UpdateFunc: func(_, _ any) { notify() },
				DeleteFunc: func(any) { notify() },
			})
			go inf.RunWithContext(ctx)
		}
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-events:
				}
				select {
				case <-ctx.Done():
					return
				case <-time.After(discoveryDelay):
				}
				w.changed()
			}
		}()
	})
}

// close stops the watches.
func (w *discoveryWatch) close() {
	if w.stop != nil {
		w.stop()
	}
}
