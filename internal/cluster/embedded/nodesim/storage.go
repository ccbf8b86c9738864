package nodesim

import (
	"context"
	"fmt"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
)

// Annotations of the external-provisioner protocol the PersistentVolume
// controller speaks.
const (
	annStorageProvisioner = "volume.kubernetes.io/storage-provisioner"
	annSelectedNode       = "volume.kubernetes.io/selected-node"
	annProvisionedBy      = "pv.kubernetes.io/provisioned-by"
	annDefaultClass       = "storageclass.kubernetes.io/is-default-class"
)

// ensureStorageClass creates the default StorageClass unless it exists. It
// binds on first consumer, as kind's does, so that a claim's volume lands
// on the node its pod was scheduled to.
func (s *Simulator) ensureStorageClass(ctx context.Context) error {
	sc := &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{
			Name:        DefaultStorageClass,
			Annotations: map[string]string{annDefaultClass: "true"},
			Labels:      map[string]string{LabelSimulated: "true"},
		},
		Provisioner:       DefaultProvisioner,
		ReclaimPolicy:     ptr.To(corev1.PersistentVolumeReclaimDelete),
		VolumeBindingMode: ptr.To(storagev1.VolumeBindingWaitForFirstConsumer),
	}
	return retry(ctx, func() error {
		_, err := s.client.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	})
}

// provisioner creates a PersistentVolume for each claim the PV controller
// hands to DefaultProvisioner, and deletes released volumes it made.
type provisioner struct {
	s       *Simulator
	claims  corelisters.PersistentVolumeClaimLister
	volumes corelisters.PersistentVolumeLister
	classes storagelisters.StorageClassLister
	queue   workqueue.TypedRateLimitingInterface[string]
}

// Queue keys distinguish the two kinds of work.
const (
	claimKeyPrefix  = "claim/"
	volumeKeyPrefix = "volume/"
)

// runStorage provisions and deletes volumes until ctx ends.
func (s *Simulator) runStorage(ctx context.Context) {
	factory := informers.NewSharedInformerFactory(s.client, 0)
	claims := factory.Core().V1().PersistentVolumeClaims()
	volumes := factory.Core().V1().PersistentVolumes()
	classes := factory.Storage().V1().StorageClasses()
	p := &provisioner{
		s:       s,
		claims:  claims.Lister(),
		volumes: volumes.Lister(),
		classes: classes.Lister(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "nodesim-storage"}),
	}
	handler := func(prefix string) cache.ResourceEventHandler {
		add := func(obj any) {
			if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
				p.queue.Add(prefix + key)
			}
		}
		return cache.ResourceEventHandlerFuncs{AddFunc: add, UpdateFunc: func(_, obj any) { add(obj) }}
	}
	if _, err := claims.Informer().AddEventHandler(handler(claimKeyPrefix)); err != nil {
		s.logger.Error("watch claims", "error", err)
		return
	}
	if _, err := volumes.Informer().AddEventHandler(handler(volumeKeyPrefix)); err != nil {
		s.logger.Error("watch volumes", "error", err)
		return
	}
	classes.Informer() // registered before Start so that it runs
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	defer p.queue.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), claims.Informer().HasSynced, volumes.Informer().HasSynced, classes.Informer().HasSynced) {
		return
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for p.next(ctx) {
		}
	})
	<-ctx.Done()
	p.queue.ShutDown()
	wg.Wait()
}

func (p *provisioner) next(ctx context.Context) bool {
	key, quit := p.queue.Get()
	if quit {
		return false
	}
	defer p.queue.Done(key)
	var err error
	if claim, ok := strings.CutPrefix(key, claimKeyPrefix); ok {
		err = p.syncClaim(ctx, claim)
	} else if volume, ok := strings.CutPrefix(key, volumeKeyPrefix); ok {
		err = p.syncVolume(ctx, volume)
	}
	if err != nil {
		if ctx.Err() == nil {
			p.s.logger.Debug("storage sync failed; retrying", "key", key, "error", err)
		}
		p.queue.AddRateLimited(key)
		return true
	}
	p.queue.Forget(key)
	return true
}

// syncClaim provisions a volume for a claim waiting on DefaultProvisioner.
func (p *provisioner) syncClaim(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	claim, err := p.claims.PersistentVolumeClaims(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if claim.Spec.VolumeName != "" || claim.DeletionTimestamp != nil ||
		claim.Annotations[annStorageProvisioner] != DefaultProvisioner {
		return nil
	}
	className := ptr.Deref(claim.Spec.StorageClassName, "")
	class, err := p.classes.Get(className)
	if err != nil {
		return fmt.Errorf("claim %s: storage class %q: %w", key, className, err)
	}
	pv := volumeFor(claim, class)
	_, err = p.s.client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("claim %s: create volume: %w", key, err)
	}
	p.s.logger.Debug("provisioned volume", "claim", key, "volume", pv.Name)
	return nil
}

// volumeFor is the volume provisioned for claim: pre-bound to it, so that
// the PV controller binds the pair, and pinned to the node the scheduler
// chose for the claim's first pod, like a local volume.
func volumeFor(claim *corev1.PersistentVolumeClaim, class *storagev1.StorageClass) *corev1.PersistentVolume {
	name := "pvc-" + string(claim.UID)
	modes := claim.Spec.AccessModes
	if len(modes) == 0 {
		modes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
	}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{annProvisionedBy: DefaultProvisioner},
			Labels:      map[string]string{LabelSimulated: "true"},
		},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: claim.Spec.Resources.Requests[corev1.ResourceStorage]},
			AccessModes:                   modes,
			PersistentVolumeReclaimPolicy: ptr.Deref(class.ReclaimPolicy, corev1.PersistentVolumeReclaimDelete),
			StorageClassName:              class.Name,
			MountOptions:                  class.MountOptions,
			VolumeMode:                    claim.Spec.VolumeMode,
			ClaimRef: &corev1.ObjectReference{
				APIVersion: "v1",
				Kind:       "PersistentVolumeClaim",
				Namespace:  claim.Namespace,
				Name:       claim.Name,
				UID:        claim.UID,
			},
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				HostPath: &corev1.HostPathVolumeSource{
					Path: "/var/lib/envctl/volumes/" + name,
					Type: ptr.To(corev1.HostPathDirectoryOrCreate),
				},
			},
		},
	}
	if node := claim.Annotations[annSelectedNode]; node != "" {
		pv.Spec.NodeAffinity = &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{
				Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpIn, Values: []string{node},
			}}}},
		}}
	}
	return pv
}

// syncVolume deletes a released volume this provisioner made whose reclaim
// policy is Delete, which is the provisioner's job, not the PV controller's.
func (p *provisioner) syncVolume(ctx context.Context, name string) error {
	pv, err := p.volumes.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if pv.Annotations[annProvisionedBy] != DefaultProvisioner || pv.DeletionTimestamp != nil ||
		pv.Status.Phase != corev1.VolumeReleased || pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete {
		return nil
	}
	err = p.s.client.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{UID: ptr.To(pv.UID)},
	})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}
