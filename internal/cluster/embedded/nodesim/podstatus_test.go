package nodesim

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

var (
	t0 = metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	t1 = metav1.NewTime(t0.Add(time.Minute))
)

func basePod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "uid-1", Generation: 1},
		Spec: corev1.PodSpec{
			NodeName:   "node-0",
			Containers: []corev1.Container{{Name: "app", Image: "app:1"}},
		},
		Status: corev1.PodStatus{
			Phase:    corev1.PodPending,
			QOSClass: corev1.PodQOSBestEffort,
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: t0},
			},
		},
	}
}

// summary is what a user checks in kubectl get pod -o wide and describe.
type summary struct {
	Phase      corev1.PodPhase
	PodIP      string
	HostIP     string
	QOS        corev1.PodQOSClass
	Conditions map[corev1.PodConditionType]corev1.ConditionStatus
	Containers map[string]string
	Init       map[string]string
}

func summarize(st corev1.PodStatus) summary {
	s := summary{
		Phase: st.Phase, PodIP: st.PodIP, HostIP: st.HostIP, QOS: st.QOSClass,
		Conditions: map[corev1.PodConditionType]corev1.ConditionStatus{},
		Containers: map[string]string{},
	}
	for _, c := range st.Conditions {
		s.Conditions[c.Type] = c.Status
	}
	state := func(cs corev1.ContainerStatus) string {
		switch {
		case cs.State.Running != nil:
			return map[bool]string{true: "running/ready", false: "running"}[cs.Ready]
		case cs.State.Terminated != nil:
			return "exited " + string(rune('0'+cs.State.Terminated.ExitCode))
		}
		return "waiting"
	}
	for _, cs := range st.ContainerStatuses {
		s.Containers[cs.Name+"@"+cs.Image] = state(cs)
	}
	if len(st.InitContainerStatuses) > 0 {
		s.Init = map[string]string{}
		for _, cs := range st.InitContainerStatuses {
			s.Init[cs.Name] = state(cs)
		}
	}
	return s
}

func TestPodStatus(t *testing.T) {
	run := podRun{hostIP: netip.MustParseAddr("172.30.0.2"), podIP: netip.MustParseAddr("10.244.0.2"), now: t1}
	ready := map[corev1.PodConditionType]corev1.ConditionStatus{
		corev1.PodScheduled: "True", corev1.PodReadyToStartContainers: "True", corev1.PodInitialized: "True",
		corev1.ContainersReady: "True", corev1.PodReady: "True",
	}
	tests := []struct {
		name string
		pod  func(*corev1.Pod)
		exit *int32
		want summary
	}{{
		name: "running and ready",
		want: summary{Phase: "Running", PodIP: "10.244.0.2", HostIP: "172.30.0.2", QOS: "BestEffort", Conditions: ready,
			Containers: map[string]string{"app@app:1": "running/ready"}},
	}, {
		name: "init container completed, sidecar running",
		pod: func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{
				{Name: "migrate", Image: "m:1"},
				{Name: "proxy", Image: "proxy:1", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)},
			}
		},
		want: summary{Phase: "Running", PodIP: "10.244.0.2", HostIP: "172.30.0.2", QOS: "BestEffort", Conditions: ready,
			Containers: map[string]string{"app@app:1": "running/ready"},
			Init:       map[string]string{"migrate": "exited 0", "proxy": "running/ready"}},
	}, {
		name: "annotated not ready",
		pod:  func(p *corev1.Pod) { p.Annotations = map[string]string{AnnotationReady: "false"} },
		want: summary{Phase: "Running", PodIP: "10.244.0.2", HostIP: "172.30.0.2", QOS: "BestEffort",
			Conditions: map[corev1.PodConditionType]corev1.ConditionStatus{
				corev1.PodScheduled: "True", corev1.PodReadyToStartContainers: "True", corev1.PodInitialized: "True",
				corev1.ContainersReady: "False", corev1.PodReady: "False"},
			Containers: map[string]string{"app@app:1": "running"}},
	}, {
		name: "readiness gate not yet met",
		pod: func(p *corev1.Pod) {
			p.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: "example.com/lb"}}
		},
		want: summary{Phase: "Running", PodIP: "10.244.0.2", HostIP: "172.30.0.2", QOS: "BestEffort",
			Conditions: map[corev1.PodConditionType]corev1.ConditionStatus{
				corev1.PodScheduled: "True", corev1.PodReadyToStartContainers: "True", corev1.PodInitialized: "True",
				corev1.ContainersReady: "True", corev1.PodReady: "False"},
			Containers: map[string]string{"app@app:1": "running/ready"}},
	}, {
		name: "readiness gate met",
		pod: func(p *corev1.Pod) {
			p.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: "example.com/lb"}}
			p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: "example.com/lb", Status: corev1.ConditionTrue})
		},
		want: summary{Phase: "Running", PodIP: "10.244.0.2", HostIP: "172.30.0.2", QOS: "BestEffort",
			Conditions: map[corev1.PodConditionType]corev1.ConditionStatus{
				corev1.PodScheduled: "True", corev1.PodReadyToStartContainers: "True", corev1.PodInitialized: "True",
				corev1.ContainersReady: "True", corev1.PodReady: "True", "example.com/lb": "True"},
			Containers: map[string]string{"app@app:1": "running/ready"}},
	}, {
		name: "job pod succeeded",
		exit: ptr.To[int32](0),
		want: summary{Phase: "Succeeded", PodIP: "10.244.0.2", HostIP: "172.30.0.2", QOS: "BestEffort",
			Conditions: map[corev1.PodConditionType]corev1.ConditionStatus{
				corev1.PodScheduled: "True", corev1.PodReadyToStartContainers: "False", corev1.PodInitialized: "True",
				corev1.ContainersReady: "False", corev1.PodReady: "False"},
			Containers: map[string]string{"app@app:1": "exited 0"}},
	}, {
		name: "job pod failed",
		exit: ptr.To[int32](3),
		want: summary{Phase: "Failed", PodIP: "10.244.0.2", HostIP: "172.30.0.2", QOS: "BestEffort",
			Conditions: map[corev1.PodConditionType]corev1.ConditionStatus{
				corev1.PodScheduled: "True", corev1.PodReadyToStartContainers: "False", corev1.PodInitialized: "True",
				corev1.ContainersReady: "False", corev1.PodReady: "False"},
			Containers: map[string]string{"app@app:1": "exited 3"}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := basePod()
			if tt.pod != nil {
				tt.pod(pod)
			}
			r := run
			r.exit = tt.exit
			if diff := cmp.Diff(tt.want, summarize(podStatus(pod, r))); diff != "" {
				t.Errorf("status (-want +got):\n%s", diff)
			}
		})
	}
}

// Computing the status of a pod whose status is already current must give
// the same status, or the simulator would write on every event.
func TestPodStatusIsStable(t *testing.T) {
	pod := basePod()
	run := podRun{hostIP: netip.MustParseAddr("172.30.0.2"), podIP: netip.MustParseAddr("10.244.0.2"), now: t1}
	pod.Status = podStatus(pod, run)
	later := run
	later.now = metav1.NewTime(t1.Add(time.Hour))
	if diff := cmp.Diff(pod.Status, podStatus(pod, later)); diff != "" {
		t.Errorf("second computation differs (-first +second):\n%s", diff)
	}
	// A new image restarts the container.
	pod.Spec.Containers[0].Image = "app:2"
	st := podStatus(pod, later)
	cs := st.ContainerStatuses[0]
	if cs.Image != "app:2" || cs.RestartCount != 1 || !cs.State.Running.StartedAt.Equal(&later.now) {
		t.Errorf("after an image change: image %s restarts %d started %v; want app:2, 1, %v", cs.Image, cs.RestartCount, cs.State.Running.StartedAt, later.now)
	}
}

func TestJobPodDue(t *testing.T) {
	now := t0.Add(10 * time.Second)
	pod := basePod()
	if got := jobPodDue(pod, time.Second, now); got != time.Second {
		t.Errorf("pending pod: due in %v, want the full run time", got)
	}
	pod.Status.Phase = corev1.PodRunning
	pod.Status.StartTime = &t0
	if got := jobPodDue(pod, 30*time.Second, now); got != 20*time.Second {
		t.Errorf("running pod: due in %v, want 20s", got)
	}
	if got := jobPodDue(pod, time.Second, now); got > 0 {
		t.Errorf("overdue pod: due in %v, want <= 0", got)
	}
}
