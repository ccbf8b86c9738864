package nodesim

import (
	"net/netip"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// podRun is what the simulator decided about one pod at one moment.
type podRun struct {
	hostIP netip.Addr
	podIP  netip.Addr
	now    metav1.Time
	// exit, when set, ends the pod: every container terminated with this code.
	exit *int32
}

// isJobPod reports whether pod runs to completion: a Job controls it, or it
// is a bare pod that is never restarted (a Helm test or hook Pod), which a
// kubelet would see exit.
func isJobPod(pod *corev1.Pod) bool {
	ref := metav1.GetControllerOf(pod)
	if ref == nil {
		return pod.Spec.RestartPolicy == corev1.RestartPolicyNever
	}
	return ref.Kind == "Job"
}

// exitCode is the code a Job pod's containers exit with: 0 unless the pod
// carries AnnotationExitCode.
func exitCode(pod *corev1.Pod) int32 {
	if v, ok := pod.Annotations[AnnotationExitCode]; ok {
		if n, err := strconv.ParseInt(v, 10, 32); err == nil {
			return int32(n)
		}
	}
	return 0
}

// wantsReady reports whether the pod's containers should report ready.
func wantsReady(pod *corev1.Pod) bool {
	return pod.Annotations[AnnotationReady] != "false"
}

// podStatus is the status a kubelet would report for pod once its
// containers run (or, with r.exit set, once they have all exited). Fields
// others own — QoS class, conditions set by other controllers, the
// scheduler's PodScheduled — are kept, and so are timestamps of states that
// did not change, so that computing the status twice gives an equal result
// and the caller can skip the write.
func podStatus(pod *corev1.Pod, r podRun) corev1.PodStatus {
	st := *pod.Status.DeepCopy()
	st.ObservedGeneration = pod.Generation
	if st.StartTime == nil {
		st.StartTime = ptr.To(r.now)
	}
	start := *st.StartTime
	st.HostIP = r.hostIP.String()
	st.HostIPs = []corev1.HostIP{{IP: st.HostIP}}
	if r.podIP.IsValid() {
		st.PodIP = r.podIP.String()
		st.PodIPs = []corev1.PodIP{{IP: st.PodIP}}
	}
	st.Message, st.Reason = "", ""

	done := r.exit != nil
	ready := wantsReady(pod) && !done

	st.InitContainerStatuses = initStatuses(pod, st.InitContainerStatuses, start, r, ready)
	st.ContainerStatuses = containerStatuses(pod, pod.Spec.Containers, st.ContainerStatuses, r, ready)

	containersReady := ready
	podReady := ready
	for _, gate := range pod.Spec.ReadinessGates {
		if c := findCondition(st.Conditions, gate.ConditionType); c == nil || c.Status != corev1.ConditionTrue {
			podReady = false
		}
	}

	switch {
	case !done:
		st.Phase = corev1.PodRunning
	case *r.exit == 0:
		st.Phase = corev1.PodSucceeded
	default:
		st.Phase = corev1.PodFailed
	}
	reason := ""
	if done {
		reason = "PodCompleted"
	} else if !ready {
		reason = "ContainersNotReady"
	}
	setCondition(&st.Conditions, corev1.PodReadyToStartContainers, !done, "", r.now)
	initReason := ""
	if done {
		initReason = "PodCompleted"
	}
	setCondition(&st.Conditions, corev1.PodInitialized, true, initReason, r.now)
	setCondition(&st.Conditions, corev1.ContainersReady, containersReady, reason, r.now)
	if !podReady && reason == "" {
		reason = "ReadinessGatesNotReady"
	}
	setCondition(&st.Conditions, corev1.PodReady, podReady, reason, r.now)
	if findCondition(st.Conditions, corev1.PodScheduled) == nil {
		setCondition(&st.Conditions, corev1.PodScheduled, true, "", r.now)
	}
	return st
}

// initStatuses reports init containers completed, except restartable
// (sidecar) ones, which run alongside the main containers.
func initStatuses(pod *corev1.Pod, prev []corev1.ContainerStatus, start metav1.Time, r podRun, ready bool) []corev1.ContainerStatus {
	if len(pod.Spec.InitContainers) == 0 {
		return nil
	}
	var sidecars []corev1.Container
	out := make([]corev1.ContainerStatus, 0, len(pod.Spec.InitContainers))
	for _, c := range pod.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sidecars = append(sidecars, c)
			continue
		}
		cs := corev1.ContainerStatus{
			Name:        c.Name,
			Image:       c.Image,
			ImageID:     c.Image,
			ContainerID: containerID(pod, c.Name),
			Ready:       true,
			Started:     ptr.To(false),
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: 0, Reason: "Completed", StartedAt: start, FinishedAt: start,
				ContainerID: containerID(pod, c.Name),
			}},
		}
		if old := findStatus(prev, c.Name); old != nil && old.State.Terminated != nil && old.Image == c.Image {
			cs.State.Terminated.StartedAt = old.State.Terminated.StartedAt
			cs.State.Terminated.FinishedAt = old.State.Terminated.FinishedAt
		}
		out = append(out, cs)
	}
	out = append(out, containerStatuses(pod, sidecars, prev, r, ready)...)
	// Keep spec order, which is what kubelets report.
	ordered := make([]corev1.ContainerStatus, 0, len(out))
	for _, c := range pod.Spec.InitContainers {
		if s := findStatus(out, c.Name); s != nil {
			ordered = append(ordered, *s)
		}
	}
	return ordered
}

// containerStatuses reports each container running (keeping the start time
// of a container whose image did not change) or, when r.exit is set,
// terminated.
func containerStatuses(pod *corev1.Pod, containers []corev1.Container, prev []corev1.ContainerStatus, r podRun, ready bool) []corev1.ContainerStatus {
	out := make([]corev1.ContainerStatus, 0, len(containers))
	for _, c := range containers {
		old := findStatus(prev, c.Name)
		startedAt := r.now
		restarts := int32(0)
		if old != nil {
			restarts = old.RestartCount
			switch {
			case old.State.Running != nil && old.Image == c.Image:
				startedAt = old.State.Running.StartedAt
			case old.State.Terminated != nil && old.Image == c.Image:
				startedAt = old.State.Terminated.StartedAt
			case old.Image != c.Image && old.Image != "":
				// A changed image restarts the container, as on a kubelet.
				restarts++
			}
		}
		cs := corev1.ContainerStatus{
			Name:         c.Name,
			Image:        c.Image,
			ImageID:      c.Image,
			ContainerID:  containerID(pod, c.Name),
			Ready:        ready,
			Started:      ptr.To(r.exit == nil),
			RestartCount: restarts,
		}
		if r.exit != nil {
			finished := r.now
			if old != nil && old.State.Terminated != nil {
				finished = old.State.Terminated.FinishedAt
			}
			reason := "Completed"
			if *r.exit != 0 {
				reason = "Error"
			}
			cs.State.Terminated = &corev1.ContainerStateTerminated{
				ExitCode: *r.exit, Reason: reason, StartedAt: startedAt, FinishedAt: finished,
				ContainerID: cs.ContainerID,
			}
		} else {
			cs.State.Running = &corev1.ContainerStateRunning{StartedAt: startedAt}
		}
		out = append(out, cs)
	}
	return out
}

// containerID is a stable, obviously simulated container ID.
func containerID(pod *corev1.Pod, name string) string {
	return "envctl://" + string(pod.UID) + "/" + name
}

func findStatus(list []corev1.ContainerStatus, name string) *corev1.ContainerStatus {
	for i := range list {
		if list[i].Name == name {
			return &list[i]
		}
	}
	return nil
}

func findCondition(list []corev1.PodCondition, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range list {
		if list[i].Type == t {
			return &list[i]
		}
	}
	return nil
}

// setCondition sets condition t, keeping its transition time when its
// status does not change.
func setCondition(list *[]corev1.PodCondition, t corev1.PodConditionType, status bool, reason string, now metav1.Time) {
	s := corev1.ConditionFalse
	if status {
		s = corev1.ConditionTrue
	}
	if c := findCondition(*list, t); c != nil {
		if c.Status != s {
			c.LastTransitionTime = now
		}
		c.Status, c.Reason, c.Message = s, reason, ""
		return
	}
	*list = append(*list, corev1.PodCondition{Type: t, Status: s, Reason: reason, LastTransitionTime: now})
}

// jobPodDue reports how long a running Job pod still has to run, given
// when it started.
func jobPodDue(pod *corev1.Pod, runTime time.Duration, now time.Time) time.Duration {
	if pod.Status.Phase != corev1.PodRunning || pod.Status.StartTime == nil {
		return runTime
	}
	return pod.Status.StartTime.Add(runTime).Sub(now)
}
