package health

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"

	"github.com/envctl/envctl/internal/object"
)

func obj(apiVersion, kind string, status map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": apiVersion, "kind": kind,
		"metadata": map[string]any{"name": "x", "namespace": "ml", "generation": int64(1)},
	}}
	if status != nil {
		u.Object["status"] = status
	}
	return u
}

func cond(typ, status, reason string) map[string]any {
	return map[string]any{"type": typ, "status": status, "reason": reason}
}

func TestCompute(t *testing.T) {
	runningJob := obj("batch/v1", "Job", map[string]any{"startTime": "2026-01-01T00:00:00Z", "active": int64(1)})
	doneJob := obj("batch/v1", "Job", map[string]any{"startTime": "2026-01-01T00:00:00Z", "succeeded": int64(1),
		"conditions": []any{cond("Complete", "True", "")}})
	failedJob := obj("batch/v1", "Job", map[string]any{"startTime": "2026-01-01T00:00:00Z", "failed": int64(1),
		"conditions": []any{cond("Failed", "True", "BackoffLimitExceeded")}})
	runningPod := obj("v1", "Pod", map[string]any{"phase": "Running", "conditions": []any{cond("Ready", "True", "")}})
	donePod := obj("v1", "Pod", map[string]any{"phase": "Succeeded"})
	failedPod := obj("v1", "Pod", map[string]any{"phase": "Failed"})
	deploy := obj("apps/v1", "Deployment", map[string]any{"observedGeneration": int64(1), "replicas": int64(2), "updatedReplicas": int64(2)})
	_ = unstructured.SetNestedField(deploy.Object, int64(2), "spec", "replicas")
	cm := obj("v1", "ConfigMap", nil)

	tests := []struct {
		name string
		obj  *unstructured.Unstructured
		mode Mode
		want kstatus.Status
	}{
		{"running job is current for kstatus", runningJob, Ready, kstatus.CurrentStatus},
		{"running job hook is in progress", runningJob, Complete, kstatus.InProgressStatus},
		{"completed job hook", doneJob, Complete, kstatus.CurrentStatus},
		{"failed job hook", failedJob, Complete, kstatus.FailedStatus},
		{"failed job", failedJob, Ready, kstatus.FailedStatus},
		{"running ready pod hook is in progress", runningPod, Complete, kstatus.InProgressStatus},
		{"running ready pod", runningPod, Ready, kstatus.CurrentStatus},
		{"succeeded pod hook", donePod, Complete, kstatus.CurrentStatus},
		{"failed pod hook", failedPod, Complete, kstatus.FailedStatus},
		{"deployment without available replicas", deploy, Ready, kstatus.InProgressStatus},
		{"configmap", cm, Ready, kstatus.CurrentStatus},
		{"configmap hook", cm, Complete, kstatus.CurrentStatus},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := compute(tt.obj, tt.mode)
			if got.Status != tt.want {
				t.Errorf("status = %s (%s), want %s", got.Status, got.Message, tt.want)
			}
			if got.Ref.Kind != tt.obj.GetKind() || got.Ref.Name != "x" {
				t.Errorf("ref = %+v", got.Ref)
			}
		})
	}
	if msg := compute(failedJob, Complete).Message; !strings.Contains(msg, "BackoffLimitExceeded") {
		t.Errorf("failed job message %q does not give the reason", msg)
	}
}

func TestAbnormal(t *testing.T) {
	o := obj("apps/v1", "Deployment", map[string]any{"conditions": []any{
		cond("Available", "False", "MinimumReplicasUnavailable"),
		cond("Progressing", "True", "ReplicaSetUpdated"),
		cond("ReplicaFailure", "True", "FailedCreate"),
		cond("Stalled", "False", ""),
	}})
	want := []Condition{
		{Type: "Available", Status: "False", Reason: "MinimumReplicasUnavailable"},
		{Type: "ReplicaFailure", Status: "True", Reason: "FailedCreate"},
	}
	if diff := cmp.Diff(want, abnormal(o)); diff != "" {
		t.Errorf("abnormal (-want +got):\n%s", diff)
	}
}

func TestObjectStatusString(t *testing.T) {
	s := ObjectStatus{
		Ref:        object.Ref{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "ml-serving", Name: "model-server"},
		Status:     kstatus.InProgressStatus,
		Message:    "Available: 0/2",
		Conditions: []Condition{{Type: "Available", Status: "False", Reason: "MinimumReplicasUnavailable", Message: "Deployment does not have minimum availability."}},
		Event:      "FailedScheduling: 0/2 nodes are available: 2 Insufficient cpu. (pod model-server-abc)",
	}
	want := "Deployment.apps ml-serving/model-server: InProgress: Available: 0/2; condition Available=False (MinimumReplicasUnavailable: Deployment does not have minimum availability.); event FailedScheduling: 0/2 nodes are available: 2 Insufficient cpu. (pod model-server-abc)"
	if got := s.String(); got != want {
		t.Errorf("String() =\n%s\nwant\n%s", got, want)
	}
	err := &NotReadyError{Reason: "timed out after 2m0s", Objects: []ObjectStatus{s}}
	if got := err.Error(); !strings.HasPrefix(got, "timed out after 2m0s: 1 object not ready\n  Deployment.apps ml-serving/model-server") {
		t.Errorf("NotReadyError = %q", got)
	}
}

func TestLatestEvent(t *testing.T) {
	yes := true
	ctrl := func(uid types.UID) []metav1.OwnerReference {
		return []metav1.OwnerReference{{UID: uid, Controller: &yes}}
	}
	at := func(s int) metav1.Time { return metav1.NewTime(time.Unix(int64(s), 0)) }
	ev := &events{owner: map[types.UID]types.UID{}}
	ev.addOwner("rs", ctrl("deploy"))
	ev.addOwner("pod", ctrl("rs"))
	ev.addOwner("other-pod", ctrl("other-rs"))
	ev.warnings = []corev1.Event{
		{Reason: "Old", Message: "older", InvolvedObject: corev1.ObjectReference{Kind: "Deployment", UID: "deploy"}, LastTimestamp: at(10)},
		{Reason: "FailedScheduling", Message: "0/2 nodes are available: 2 Insufficient cpu.", InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "web-1", UID: "pod"}, LastTimestamp: at(20)},
		{Reason: "Unrelated", InvolvedObject: corev1.ObjectReference{Kind: "Pod", UID: "other-pod"}, LastTimestamp: at(30)},
		{Reason: "SecretNoise", InvolvedObject: corev1.ObjectReference{Kind: "Secret", UID: "deploy"}, LastTimestamp: at(40)},
	}
	got := ev.latestFor("deploy")
	if got == nil {
		t.Fatal("no event found for the deployment")
	}
	if s := formatEvent(got); s != "FailedScheduling: 0/2 nodes are available: 2 Insufficient cpu. (pod web-1)" {
		t.Errorf("event = %q", s)
	}
	if ev.latestFor("nothing") != nil || ev.latestFor("") != nil {
		t.Error("found an event for an object with none")
	}
}
