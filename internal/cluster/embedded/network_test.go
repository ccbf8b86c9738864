package embedded_test

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/envctl/envctl/internal/cluster/embedded/nodesim"
	"github.com/envctl/envctl/internal/testenv"
)

func service(name string, typ corev1.ServiceType) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{
			Type:     typ,
			Selector: map[string]string{"app": name},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
}

func TestLoadBalancerServiceGetsIngressIP(t *testing.T) {
	env := testenv.Get(t)
	ns := env.Namespace(t)
	c := env.Clientset()
	if _, err := c.CoreV1().Services(ns).Create(context.Background(), service("gateway", corev1.ServiceTypeLoadBalancer), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pool := netip.MustParsePrefix(nodesim.DefaultLoadBalancerCIDR)
	eventually(t, 10*time.Second, "service gateway ingress IP", func(ctx context.Context) (bool, string, error) {
		svc, err := c.CoreV1().Services(ns).Get(ctx, "gateway", metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		in := svc.Status.LoadBalancer.Ingress
		if len(in) != 1 {
			return false, fmt.Sprintf("ingress %v", in), nil
		}
		ip, err := netip.ParseAddr(in[0].IP)
		if err != nil || !pool.Contains(ip) {
			return false, "", fmt.Errorf("ingress IP %q not in %s", in[0].IP, pool)
		}
		return true, "", nil
	})
}

func TestServiceGetsEndpointsOfReadyPods(t *testing.T) {
	env := testenv.Get(t)
	ns := env.Namespace(t)
	c := env.Clientset()
	ctx := context.Background()
	if _, err := c.CoreV1().Services(ns).Create(ctx, service("api", corev1.ServiceTypeClusterIP), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AppsV1().Deployments(ns).Create(ctx, deployment("api", 3), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "endpoints of service api are the ready pods' IPs", func(ctx context.Context) (bool, string, error) {
		pods, err := listPods(ctx, c, ns, "api")
		if err != nil {
			return false, "", err
		}
		var want []string
		for _, p := range pods {
			if podReady(&p) {
				want = append(want, p.Status.PodIP)
			}
		}
		slices.Sort(want)
		list, err := c.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=api"})
		if err != nil {
			return false, "", err
		}
		var got []string
		for _, s := range list.Items {
			for _, ep := range s.Endpoints {
				if ep.Conditions.Ready != nil && *ep.Conditions.Ready {
					got = append(got, ep.Addresses...)
				}
			}
		}
		slices.Sort(got)
		return len(want) == 3 && slices.Equal(got, want), fmt.Sprintf("endpoints %v, ready pods %v", got, want), nil
	})
}
