package nodesim

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
)

// podWorkers is how many pods are synced at once: a burst of new pods (an
// apply of a whole platform) goes out in parallel, bounded.
const podWorkers = 4

// podController plays kubelet for the pods bound to simulated nodes.
type podController struct {
	s      *Simulator
	lister corelisters.PodLister
	queue  workqueue.TypedRateLimitingInterface[string]
}

// runPods watches the pods bound to any node and syncs those on simulated
// nodes until ctx ends.
func (s *Simulator) runPods(ctx context.Context) {
	// Only pods bound to a node concern a kubelet; the field selector keeps
	// the scheduler's pending pods out of the cache.
	factory := informers.NewSharedInformerFactoryWithOptions(s.client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = "spec.nodeName!=" }))
	informer := factory.Core().V1().Pods()
	c := &podController{
		s:      s,
		lister: informer.Lister(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "nodesim-pods"}),
	}
	enqueue := func(obj any) {
		if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
			c.queue.Add(key)
		}
	}
	_, err := informer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
		DeleteFunc: func(obj any) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			if pod, ok := obj.(*corev1.Pod); ok {
				c.releaseIP(pod)
			}
		},
	})
	if err != nil {
		s.logger.Error("watch pods", "error", err)
		return
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	defer c.queue.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), informer.Informer().HasSynced) {
		return
	}
	// Pods that already run keep their IPs (after a restart of the
	// simulator), so record them before any new pod is given one.
	pods, _ := c.lister.List(everything)
	for _, pod := range pods {
		c.reserveIP(pod)
	}
	var workers sync.WaitGroup
	for range podWorkers {
		workers.Go(func() {
			for c.next(ctx) {
			}
		})
	}
	<-ctx.Done()
	c.queue.ShutDown()
	workers.Wait()
}

// next processes one queued pod; false once the queue shuts down.
func (c *podController) next(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	requeue, err := c.sync(ctx, key)
	switch {
	case err != nil:
		if ctx.Err() == nil {
			c.s.logger.Debug("pod sync failed; retrying", "pod", key, "error", err)
		}
		c.queue.AddRateLimited(key)
	case requeue > 0:
		c.queue.Forget(key)
		c.queue.AddAfter(key, requeue)
	default:
		c.queue.Forget(key)
	}
	return true
}

// sync brings one pod's status to what a kubelet would report. It returns a
// delay after which the pod needs another look (a Job pod that is running).
func (c *podController) sync(ctx context.Context, key string) (time.Duration, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return 0, nil
	}
	pod, err := c.lister.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	node, ok := c.s.byName[pod.Spec.NodeName]
	if !ok {
		return 0, nil
	}
	if pod.DeletionTimestamp != nil {
		return 0, c.remove(ctx, pod)
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		c.releaseIP(pod)
		return 0, nil
	}

	hostIP, err := netip.ParseAddr(node.node.Status.Addresses[0].Address)
	if err != nil {
		return 0, fmt.Errorf("node %s address: %w", node.node.Name, err)
	}
	run := podRun{hostIP: hostIP, now: metav1.Now()}
	if pod.Spec.HostNetwork {
		run.podIP = hostIP
	} else if run.podIP, err = node.ips.allocate(string(pod.UID)); err != nil {
		return 0, fmt.Errorf("pod %s: node %s pod CIDR: %w", key, node.node.Name, err)
	}
	var requeue time.Duration
	if isJobPod(pod) {
		if due := jobPodDue(pod, c.s.opts.JobPodRunTime, run.now.Time); due <= 0 {
			run.exit = ptr.To(exitCode(pod))
		} else {
			requeue = due
		}
	}
	status := podStatus(pod, run)
	if apiequality.Semantic.DeepEqual(status, pod.Status) {
		return requeue, nil
	}
	upd := pod.DeepCopy()
	upd.Status = status
	if _, err := c.s.client.CoreV1().Pods(ns).UpdateStatus(ctx, upd, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return 0, nil
		}
		return 0, err
	}
	if run.exit != nil {
		c.releaseIP(pod)
	}
	return requeue, nil
}

// remove finishes the deletion of a pod, as the kubelet does once its
// containers are gone: there are none here, so at once.
func (c *podController) remove(ctx context.Context, pod *corev1.Pod) error {
	c.releaseIP(pod)
	if g := pod.DeletionGracePeriodSeconds; g != nil && *g == 0 {
		// Already final; finalizers hold it, and their owners will
		// remove them.
		return nil
	}
	err := c.s.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To[int64](0),
		// The name may already belong to a new pod (StatefulSets reuse
		// names); only the pod that was being deleted may go.
		Preconditions: &metav1.Preconditions{UID: ptr.To(pod.UID)},
	})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}

// reserveIP records the IP of a running pod found at start.
func (c *podController) reserveIP(pod *corev1.Pod) {
	node, ok := c.s.byName[pod.Spec.NodeName]
	if !ok || pod.Spec.HostNetwork || pod.Status.PodIP == "" ||
		pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return
	}
	if a, err := netip.ParseAddr(pod.Status.PodIP); err == nil {
		node.ips.reserve(string(pod.UID), a)
	}
}

// releaseIP returns a pod's IP to its node's pool.
func (c *podController) releaseIP(pod *corev1.Pod) {
	if node, ok := c.s.byName[pod.Spec.NodeName]; ok {
		node.ips.release(string(pod.UID))
	}
}
