package drift

import (
	"context"
	"fmt"
	"log/slog"
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
	kind     Kind
	informer cache.SharedIndexInformer
	cancel   context.CancelFunc
	done     chan struct{}
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
		if k, ok := want[gk]; !ok || k.Resource != kw.kind.Resource {
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
	inf := metadatainformer.NewFilteredMetadataInformer(w.client, k.Resource, metav1.NamespaceAll, 0, cache.Indexers{},
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
		w.log.Debug("watch interrupted; it restarts by itself", "kind", k.GroupKind.String(), "err", err)
	})
	ctx, cancel := context.WithCancel(context.Background())
	kw := &kindWatch{kind: k, informer: inf, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(kw.done)
		inf.RunWithContext(ctx)
	}()
	return kw
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
		synced = append(synced, kw.informer.HasSynced)
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
		if !kw.informer.HasSynced() {
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
	if kw == nil || !kw.informer.HasSynced() {
		return nil, false
	}
	id := k.Name
	if k.Namespace != "" {
		id = k.Namespace + "/" + k.Name
	}
	item, ok, err := kw.informer.GetStore().GetByKey(id)
	if err != nil || !ok {
		return nil, true
	}
	m, _ := item.(*metav1.PartialObjectMetadata)
	return m, true
}
