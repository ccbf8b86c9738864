package drift

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"

	"github.com/envctl/envctl/internal/object"
)

// Kind is one kind to watch: its resource and its group and kind, which
// the objects of a metadata watch do not carry.
type Kind struct {
	Resource  schema.GroupVersionResource
	GroupKind schema.GroupKind
	// Namespaces, when set, are the only ones watched (one watch each);
	// else the kind is watched cluster-wide.
	Namespaces []string
}

// Event is a change the watch saw: Key's object was added, changed or
// removed (or lost the environment's label) at At.
type Event struct {
	Key object.Key
	At  time.Time
}

// Watcher keeps a metadata-only, label-selected watch cache of each kind
// an environment declares, cluster-wide, and reports every change.
type Watcher struct {
	client   metadata.Interface
	selector string
	onEvent  func(Event)
	log      *slog.Logger

	mu    sync.Mutex
	kinds map[schema.GroupKind]*kindWatch
}

type kindWatch struct {
	kind      Kind
	informers []cache.SharedIndexInformer
	cancel    context.CancelFunc
	done      chan struct{}
}

// NewWatcher returns a Watcher of the objects matching selector (the
// environment's label). onEvent is called from the watches' goroutines and
// must not block.
func NewWatcher(client metadata.Interface, selector string, onEvent func(Event), logger *slog.Logger) *Watcher {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Watcher{client: client, selector: selector, onEvent: onEvent, log: logger, kinds: map[schema.GroupKind]*kindWatch{}}
}

// Watch makes the set of watched kinds kinds: it starts the watches that
// are missing and stops those of kinds no longer declared. A kind served at
// a new version is watched at it.
func (w *Watcher) Watch(kinds []Kind) {
	w.mu.Lock()
	defer w.mu.Unlock()
	want := map[schema.GroupKind]Kind{}
	for _, k := range kinds {
		want[k.GroupKind] = k
	}
	for gk, kw := range w.kinds {
		if k, ok := want[gk]; !ok || k.Resource != kw.kind.Resource || !slices.Equal(k.Namespaces, kw.kind.Namespaces) {
			kw.stop()
			delete(w.kinds, gk)
		}
	}
	for gk, k := range want {
		if _, ok := w.kinds[gk]; !ok {
			w.kinds[gk] = w.start(k)
		}
	}
}

func (w *Watcher) start(k Kind) *kindWatch {
	namespaces := k.Namespaces
	if len(namespaces) == 0 {
		namespaces = []string{metav1.NamespaceAll}
	}
	ctx, cancel := context.WithCancel(context.Background())
	kw := &kindWatch{kind: k, cancel: cancel, done: make(chan struct{})}
	var wg sync.WaitGroup
	for _, ns := range namespaces {
		inf := w.informer(k, ns)
		kw.informers = append(kw.informers, inf)
		wg.Add(1)
		go func() {
			defer wg.Done()
			inf.RunWithContext(ctx)
		}()
	}
	go func() {
		wg.Wait()
		close(kw.done)
	}()
	return kw
}

// informer is the watch of kind k in namespace ns (all when empty).
func (w *Watcher) informer(k Kind, ns string) cache.SharedIndexInformer {
	inf := metadatainformer.NewFilteredMetadataInformer(w.client, k.Resource, ns, 0, cache.Indexers{},
		func(o *metav1.ListOptions) { o.LabelSelector = w.selector }).Informer()
	report := func(obj any) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		m, ok := obj.(*metav1.PartialObjectMetadata)
		if !ok {
			return
		}
		w.onEvent(Event{Key: object.Key{Group: k.GroupKind.Group, Kind: k.GroupKind.Kind, Namespace: m.Namespace, Name: m.Name}, At: time.Now()})
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    report,
		UpdateFunc: func(_, obj any) { report(obj) },
		DeleteFunc: report,
	})
	_ = inf.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
		w.log.Debug("watch interrupted; it restarts by itself", "kind", k.GroupKind.String(), "namespace", ns, "err", err)
	})
	return inf
}

func (kw *kindWatch) stop() {
	kw.cancel()
	<-kw.done
}

// Stop ends every watch.
func (w *Watcher) Stop() { w.Watch(nil) }

// WaitSynced waits until every watch has listed its objects once.
func (w *Watcher) WaitSynced(ctx context.Context) error {
	w.mu.Lock()
	var synced []cache.InformerSynced
	var names []string
	for gk, kw := range w.kinds {
		for _, inf := range kw.informers {
			synced = append(synced, inf.HasSynced)
		}
		names = append(names, gk.String())
	}
	w.mu.Unlock()
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return fmt.Errorf("watches of %v did not sync: %w", names, context.Cause(ctx))
	}
	return nil
}

// Synced says whether every watch has listed its objects once.
func (w *Watcher) Synced() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, kw := range w.kinds {
		if !kw.synced() {
			return false
		}
	}
	return true
}

func (kw *kindWatch) synced() bool {
	for _, inf := range kw.informers {
		if !inf.HasSynced() {
			return false
		}
	}
	return true
}

// Get returns the cached metadata of the object with key k. watched is
// false when k's kind is not watched or not yet synced, in which case the
// cache cannot tell a missing object from an unknown one.
func (w *Watcher) Get(k object.Key) (obj *metav1.PartialObjectMetadata, watched bool) {
	w.mu.Lock()
	kw := w.kinds[schema.GroupKind{Group: k.Group, Kind: k.Kind}]
	w.mu.Unlock()
	if kw == nil || !kw.synced() {
		return nil, false
	}
	id := k.Name
	if k.Namespace != "" {
		id = k.Namespace + "/" + k.Name
	}
	for _, inf := range kw.informers {
		item, ok, err := inf.GetStore().GetByKey(id)
		if err == nil && ok {
			m, _ := item.(*metav1.PartialObjectMetadata)
			return m, true
		}
	}
	return nil, true
}
