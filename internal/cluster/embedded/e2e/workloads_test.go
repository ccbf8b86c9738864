package e2e_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// workloadTimeout bounds how long each workload may take to become ready.
const workloadTimeout = time.Minute

func podTemplate(app string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name:  app,
			Image: "registry.example/" + app + ":1.0",
			Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse("100m"),
				corev1.ResourceMemory: resource.MustParse("64Mi"),
			}},
		}}},
	}
}

func deployment(name string, replicas int32) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: podTemplate(name),
		},
	}
}

func statefulSet(name string) *appsv1.StatefulSet {
	tmpl := podTemplate(name)
	tmpl.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    ptr.To(int32(2)),
			ServiceName: name,
			Selector:    &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template:    tmpl,
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					// No storage class: the cluster's default one.
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{
						corev1.ResourceStorage: resource.MustParse("1Gi"),
					}},
				},
			}},
		},
	}
}

func job(name string) *batchv1.Job {
	tmpl := podTemplate(name)
	tmpl.Spec.RestartPolicy = corev1.RestartPolicyNever
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       batchv1.JobSpec{Template: tmpl, BackoffLimit: ptr.To(int32(0))},
	}
}

func loadBalancer(name, app string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeLoadBalancer,
			Selector: map[string]string{"app": app},
			Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
}

// checkWorkloads creates a Deployment, a StatefulSet with a volume claim
// template, a Job and a LoadBalancer Service in namespace ns and waits
// until each is ready or complete, as a user of the cluster would.
func checkWorkloads(t *testing.T, c kubernetes.Interface, ns string) {
	t.Helper()
	ctx := context.Background()
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Pods need the namespace's default ServiceAccount, which the
	// controller-manager creates a moment after the namespace.
	eventually(t, 30*time.Second, "ServiceAccount default in "+ns, func(ctx context.Context) (bool, string, error) {
		_, err := c.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, "missing", nil
	})
	create := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("create %s: %v", what, err)
		}
	}
	_, err := c.AppsV1().Deployments(ns).Create(ctx, deployment("web", 3), metav1.CreateOptions{})
	create("Deployment web", err)
	_, err = c.AppsV1().StatefulSets(ns).Create(ctx, statefulSet("db"), metav1.CreateOptions{})
	create("StatefulSet db", err)
	_, err = c.BatchV1().Jobs(ns).Create(ctx, job("migrate"), metav1.CreateOptions{})
	create("Job migrate", err)
	_, err = c.CoreV1().Services(ns).Create(ctx, loadBalancer("web", "web"), metav1.CreateOptions{})
	create("Service web", err)

	eventually(t, workloadTimeout, "Deployment web available with 3 ready replicas", func(ctx context.Context) (bool, string, error) {
		d, err := c.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		available := false
		for _, cond := range d.Status.Conditions {
			available = available || cond.Type == appsv1.DeploymentAvailable && cond.Status == corev1.ConditionTrue
		}
		return available && d.Status.ReadyReplicas == 3, fmt.Sprintf("ready %d/3, available %v", d.Status.ReadyReplicas, available), nil
	})
	eventually(t, workloadTimeout, "StatefulSet db with 2 ready replicas and bound claims", func(ctx context.Context) (bool, string, error) {
		s, err := c.AppsV1().StatefulSets(ns).Get(ctx, "db", metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		pvcs, err := c.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, "", err
		}
		bound := 0
		for _, pvc := range pvcs.Items {
			if pvc.Status.Phase == corev1.ClaimBound {
				bound++
			}
		}
		return s.Status.ReadyReplicas == 2 && bound == 2, fmt.Sprintf("ready %d/2, claims bound %d/%d", s.Status.ReadyReplicas, bound, len(pvcs.Items)), nil
	})
	eventually(t, workloadTimeout, "Job migrate complete", func(ctx context.Context) (bool, string, error) {
		j, err := c.BatchV1().Jobs(ns).Get(ctx, "migrate", metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		for _, cond := range j.Status.Conditions {
			if cond.Type == batchv1.JobComplete && cond.Status == corev1.ConditionTrue {
				return true, "", nil
			}
			if cond.Type == batchv1.JobFailed && cond.Status == corev1.ConditionTrue {
				t.Fatalf("Job migrate failed: %s", cond.Message)
			}
		}
		return false, fmt.Sprintf("succeeded %d, active %d", j.Status.Succeeded, j.Status.Active), nil
	})
	eventually(t, workloadTimeout, "Service web with a load-balancer address and endpoints", func(ctx context.Context) (bool, string, error) {
		s, err := c.CoreV1().Services(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		slices, err := c.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=web"})
		if err != nil {
			return false, "", err
		}
		ready := 0
		for _, sl := range slices.Items {
			for _, ep := range sl.Endpoints {
				if ep.Conditions.Ready != nil && *ep.Conditions.Ready {
					ready++
				}
			}
		}
		ingress := s.Status.LoadBalancer.Ingress
		return len(ingress) > 0 && ingress[0].IP != "" && ready == 3, fmt.Sprintf("ingress %v, ready endpoints %d/3", ingress, ready), nil
	})
}
