package nodesim

import (
	"context"
	"net/netip"
	"sync"

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

// loadBalancers gives each LoadBalancer Service an ingress IP from the
// simulator's pool, as a cloud controller or MetalLB would. Services that
// name a loadBalancerClass belong to some other implementation and are left
// alone.
type loadBalancers struct {
	s      *Simulator
	lister corelisters.ServiceLister
	queue  workqueue.TypedRateLimitingInterface[string]
}

// runLoadBalancers assigns and releases ingress IPs until ctx ends.
func (s *Simulator) runLoadBalancers(ctx context.Context) {
	factory := informers.NewSharedInformerFactory(s.client, 0)
	informer := factory.Core().V1().Services()
	lb := &loadBalancers{
		s:      s,
		lister: informer.Lister(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "nodesim-loadbalancers"}),
	}
	enqueue := func(obj any) {
		if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
			lb.queue.Add(key)
		}
	}
	_, err := informer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
		DeleteFunc: func(obj any) {
			if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
				s.lbIPs.release(key)
			}
		},
	})
	if err != nil {
		s.logger.Error("watch services", "error", err)
		return
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	defer lb.queue.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), informer.Informer().HasSynced) {
		return
	}
	// Services that already have an address keep it.
	services, _ := lb.lister.List(everything)
	for _, svc := range services {
		if !lb.manages(svc) {
			continue
		}
		for _, in := range svc.Status.LoadBalancer.Ingress {
			if a, err := netip.ParseAddr(in.IP); err == nil {
				s.lbIPs.reserve(serviceKey(svc), a)
			}
		}
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for lb.next(ctx) {
		}
	})
	<-ctx.Done()
	lb.queue.ShutDown()
	wg.Wait()
}

func serviceKey(svc *corev1.Service) string { return svc.Namespace + "/" + svc.Name }

// manages reports whether svc is a load balancer this simulator implements.
func (lb *loadBalancers) manages(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeLoadBalancer && svc.Spec.LoadBalancerClass == nil
}

func (lb *loadBalancers) next(ctx context.Context) bool {
	key, quit := lb.queue.Get()
	if quit {
		return false
	}
	defer lb.queue.Done(key)
	if err := lb.sync(ctx, key); err != nil {
		if ctx.Err() == nil {
			lb.s.logger.Debug("load balancer sync failed; retrying", "service", key, "error", err)
		}
		lb.queue.AddRateLimited(key)
		return true
	}
	lb.queue.Forget(key)
	return true
}

// sync gives a LoadBalancer Service its ingress IP, or frees the IP of a
// Service that stopped being one.
func (lb *loadBalancers) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	svc, err := lb.lister.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		lb.s.lbIPs.release(key)
		return nil
	}
	if err != nil {
		return err
	}
	if !lb.manages(svc) {
		lb.s.lbIPs.release(key)
		return nil
	}
	ip, err := lb.s.lbIPs.allocate(key)
	if err != nil {
		lb.s.logger.Warn("load-balancer IP pool exhausted", "service", key, "pool", lb.s.opts.LoadBalancerCIDR)
		return nil
	}
	want := corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{
		IP:     ip.String(),
		IPMode: ptr.To(corev1.LoadBalancerIPModeVIP),
	}}}
	if apiequality.Semantic.DeepEqual(want, svc.Status.LoadBalancer) {
		return nil
	}
	upd := svc.DeepCopy()
	upd.Status.LoadBalancer = want
	_, err = lb.s.client.CoreV1().Services(ns).UpdateStatus(ctx, upd, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
