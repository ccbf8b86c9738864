package embedded_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/envctl/envctl/internal/cluster/embedded/nodesim"
	"github.com/envctl/envctl/internal/testenv"
)

func podTemplate(app string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name:  app,
			Image: "registry.example/" + app + ":1.0",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("100m"),
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

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// listPods lists the pods in ns with label app=app.
func listPods(ctx context.Context, c kubernetes.Interface, ns, app string) ([]corev1.Pod, error) {
	l, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		return nil, err
	}
	return l.Items, nil
}

func TestDeploymentBecomesAvailable(t *testing.T) {
	env := testenv.Get(t)
	ns := env.Namespace(t)
	c := env.Clientset()
	ctx := context.Background()
	if _, err := c.AppsV1().Deployments(ns).Create(ctx, deployment("web", 3), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "deployment web available", func(ctx context.Context) (bool, string, error) {
		d, err := c.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		for _, cond := range d.Status.Conditions {
			if cond.Type == appsv1.DeploymentAvailable && cond.Status == corev1.ConditionTrue && d.Status.AvailableReplicas == 3 {
				return true, "", nil
			}
		}
		return false, fmt.Sprintf("available %d/3, conditions %v", d.Status.AvailableReplicas, d.Status.Conditions), nil
	})

	pods, err := listPods(ctx, c, ns, "web")
	if err != nil {
		t.Fatal(err)
	}
	if len(pods) != 3 {
		t.Fatalf("got %d pods, want 3", len(pods))
	}
	nodes := map[string]*corev1.Node{}
	for _, name := range env.ControlPlane().NodeNames() {
		n, err := c.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		nodes[name] = n
	}
	seenIPs := map[string]bool{}
	for _, p := range pods {
		if p.Status.Phase != corev1.PodRunning || !podReady(&p) {
			t.Errorf("pod %s: phase %s, ready %v; want Running and Ready", p.Name, p.Status.Phase, podReady(&p))
		}
		node := nodes[p.Spec.NodeName]
		if node == nil {
			t.Errorf("pod %s: on %q, not a simulated node", p.Name, p.Spec.NodeName)
			continue
		}
		if want := node.Status.Addresses[0].Address; p.Status.HostIP != want {
			t.Errorf("pod %s: hostIP %s, want node %s's %s", p.Name, p.Status.HostIP, node.Name, want)
		}
		ip, err := netip.ParseAddr(p.Status.PodIP)
		if err != nil || !netip.MustParsePrefix(node.Spec.PodCIDR).Contains(ip) {
			t.Errorf("pod %s: pod IP %q not in node %s's pod CIDR %s", p.Name, p.Status.PodIP, node.Name, node.Spec.PodCIDR)
		}
		if seenIPs[p.Status.PodIP] {
			t.Errorf("pod %s: pod IP %s given twice", p.Name, p.Status.PodIP)
		}
		seenIPs[p.Status.PodIP] = true
		if p.Status.StartTime == nil {
			t.Errorf("pod %s: no startTime", p.Name)
		}
		if len(p.Status.ContainerStatuses) != 1 {
			t.Errorf("pod %s: %d container statuses, want 1", p.Name, len(p.Status.ContainerStatuses))
			continue
		}
		cs := p.Status.ContainerStatuses[0]
		if cs.Image != "registry.example/web:1.0" || !cs.Ready || cs.State.Running == nil {
			t.Errorf("pod %s: container status image %q ready %v running %v; want the spec's image, ready and running",
				p.Name, cs.Image, cs.Ready, cs.State.Running != nil)
		}
	}
}

func TestStatefulSetWithVolumeClaimBecomesReady(t *testing.T) {
	env := testenv.Get(t)
	ns := env.Namespace(t)
	c := env.Clientset()
	ctx := context.Background()
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    ptr.To[int32](2),
			ServiceName: "db",
			Selector:    &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
			Template:    podTemplate("db"),
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{
						corev1.ResourceStorage: resource.MustParse("1Gi"),
					}},
				},
			}},
		},
	}
	sts.Spec.Template.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
	if _, err := c.AppsV1().StatefulSets(ns).Create(ctx, sts, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "statefulset db ready", func(ctx context.Context) (bool, string, error) {
		s, err := c.AppsV1().StatefulSets(ns).Get(ctx, "db", metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		return s.Status.ReadyReplicas == 2 && s.Status.AvailableReplicas == 2,
			fmt.Sprintf("ready %d/2", s.Status.ReadyReplicas), nil
	})
	for _, name := range []string{"data-db-0", "data-db-1"} {
		pvc, err := c.CoreV1().PersistentVolumeClaims(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if pvc.Status.Phase != corev1.ClaimBound {
			t.Errorf("claim %s: phase %s, want Bound", name, pvc.Status.Phase)
		}
		if got := ptr.Deref(pvc.Spec.StorageClassName, ""); got != nodesim.DefaultStorageClass {
			t.Errorf("claim %s: storage class %q, want the default %q", name, got, nodesim.DefaultStorageClass)
		}
		pv, err := c.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("claim %s: volume: %v", name, err)
		}
		if got := pv.Spec.Capacity[corev1.ResourceStorage]; got.Cmp(resource.MustParse("1Gi")) != 0 {
			t.Errorf("volume %s: capacity %s, want 1Gi", pv.Name, got.String())
		}
	}
}

func job(name string, completions int32) *batchv1.Job {
	tmpl := podTemplate(name)
	tmpl.Spec.RestartPolicy = corev1.RestartPolicyNever
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: batchv1.JobSpec{
			Completions:  ptr.To(completions),
			Parallelism:  ptr.To[int32](2),
			BackoffLimit: ptr.To[int32](0),
			Template:     tmpl,
		},
	}
}

// waitJob waits until the Job has condition cond (Complete or Failed).
func waitJob(t *testing.T, c kubernetes.Interface, ns, name string, cond batchv1.JobConditionType) *batchv1.Job {
	t.Helper()
	var got *batchv1.Job
	eventually(t, 30*time.Second, "job "+name+" "+string(cond), func(ctx context.Context) (bool, string, error) {
		j, err := c.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		got = j
		for _, jc := range j.Status.Conditions {
			if jc.Type == cond && jc.Status == corev1.ConditionTrue {
				return true, "", nil
			}
		}
		return false, fmt.Sprintf("succeeded %d failed %d conditions %v", j.Status.Succeeded, j.Status.Failed, j.Status.Conditions), nil
	})
	return got
}

func TestJobCompletes(t *testing.T) {
	env := testenv.Get(t)
	ns := env.Namespace(t)
	c := env.Clientset()
	ctx := context.Background()
	if _, err := c.BatchV1().Jobs(ns).Create(ctx, job("migrate", 3), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	j := waitJob(t, c, ns, "migrate", batchv1.JobComplete)
	if j.Status.Succeeded != 3 {
		t.Errorf("succeeded %d, want 3", j.Status.Succeeded)
	}
	pods, err := listPods(ctx, c, ns, "migrate")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods {
		if p.Status.Phase != corev1.PodSucceeded {
			t.Errorf("pod %s: phase %s, want Succeeded", p.Name, p.Status.Phase)
		}
		for _, cs := range p.Status.ContainerStatuses {
			if cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 0 {
				t.Errorf("pod %s: container %s state %+v, want terminated with exit code 0", p.Name, cs.Name, cs.State)
			}
		}
	}
}

func TestJobFailsWithSimulatedExitCode(t *testing.T) {
	env := testenv.Get(t)
	ns := env.Namespace(t)
	c := env.Clientset()
	j := job("broken", 1)
	j.Spec.Template.Annotations = map[string]string{nodesim.AnnotationExitCode: "3"}
	if _, err := c.BatchV1().Jobs(ns).Create(context.Background(), j, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitJob(t, c, ns, "broken", batchv1.JobFailed)
}

func TestJobCreatedFromCronJobCompletes(t *testing.T) {
	env := testenv.Get(t)
	ns := env.Namespace(t)
	c := env.Clientset()
	ctx := context.Background()
	tmpl := job("nightly", 1)
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "nightly"},
		Spec: batchv1.CronJobSpec{
			Schedule:    "0 3 * * *",
			JobTemplate: batchv1.JobTemplateSpec{Spec: tmpl.Spec},
		},
	}
	cj, err := c.BatchV1().CronJobs(ns).Create(ctx, cj, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// What `kubectl create job --from=cronjob/nightly` does.
	run := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name:            "nightly-manual",
			Annotations:     map[string]string{"cronjob.kubernetes.io/instantiate": "manual"},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(cj, batchv1.SchemeGroupVersion.WithKind("CronJob"))},
		},
		Spec: cj.Spec.JobTemplate.Spec,
	}
	if _, err := c.BatchV1().Jobs(ns).Create(ctx, run, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitJob(t, c, ns, "nightly-manual", batchv1.JobComplete)
}

func TestDaemonSetRunsOnePodPerNode(t *testing.T) {
	env := testenv.Get(t)
	ns := env.Namespace(t)
	c := env.Clientset()
	ctx := context.Background()
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			Template: podTemplate("agent"),
		},
	}
	if _, err := c.AppsV1().DaemonSets(ns).Create(ctx, ds, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	nodes := env.ControlPlane().NodeNames()
	want := int32(len(nodes))
	eventually(t, 30*time.Second, "daemonset agent ready on every node", func(ctx context.Context) (bool, string, error) {
		d, err := c.AppsV1().DaemonSets(ns).Get(ctx, "agent", metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		return d.Status.DesiredNumberScheduled == want && d.Status.NumberReady == want,
			fmt.Sprintf("desired %d ready %d, want %d", d.Status.DesiredNumberScheduled, d.Status.NumberReady, want), nil
	})
	pods, err := listPods(ctx, c, ns, "agent")
	if err != nil {
		t.Fatal(err)
	}
	perNode := map[string]int{}
	for _, p := range pods {
		perNode[p.Spec.NodeName]++
	}
	for _, n := range nodes {
		if perNode[n] != 1 {
			t.Errorf("node %s runs %d agent pods, want 1", n, perNode[n])
		}
	}
}

func TestPodTooLargeStaysPendingUnschedulable(t *testing.T) {
	env := testenv.Get(t)
	ns := env.Namespace(t)
	c := env.Clientset()
	tmpl := podTemplate("huge")
	tmpl.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("1000")
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "huge", Labels: tmpl.Labels}, Spec: tmpl.Spec}
	if _, err := c.CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "pod huge reported unschedulable", func(ctx context.Context) (bool, string, error) {
		p, err := c.CoreV1().Pods(ns).Get(ctx, "huge", metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		if p.Spec.NodeName != "" {
			return false, "", fmt.Errorf("bound to %s", p.Spec.NodeName)
		}
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodScheduled && cond.Status == corev1.ConditionFalse && cond.Reason == corev1.PodReasonUnschedulable {
				return p.Status.Phase == corev1.PodPending, "phase " + string(p.Status.Phase), nil
			}
		}
		return false, fmt.Sprintf("conditions %v", p.Status.Conditions), nil
	})
}

func TestDeletedPodDisappears(t *testing.T) {
	env := testenv.Get(t)
	ns := env.Namespace(t)
	c := env.Clientset()
	ctx := context.Background()
	tmpl := podTemplate("short")
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "short", Labels: tmpl.Labels}, Spec: tmpl.Spec}
	if _, err := c.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "pod short ready", func(ctx context.Context) (bool, string, error) {
		p, err := c.CoreV1().Pods(ns).Get(ctx, "short", metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		return podReady(p), "phase " + string(p.Status.Phase), nil
	})
	// The default grace period (30s) applies; the simulator must not wait it out.
	if err := c.CoreV1().Pods(ns).Delete(ctx, "short", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "pod short gone", func(ctx context.Context) (bool, string, error) {
		_, err := c.CoreV1().Pods(ns).Get(ctx, "short", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, "", nil
		}
		return false, "still there", err
	})
}
