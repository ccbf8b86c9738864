package health

import (
	"context"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// explain fills in, for every object of report that is not ready, its
// abnormal conditions and the latest Warning event about it or about the
// ReplicaSets and Pods it owns (a Deployment's pods are where the
// scheduler's FailedScheduling lands), and returns the error listing them.
// It reads Warning events, Pods and ReplicaSets once per namespace involved;
// a read that fails only leaves the events out.
func (w *waiter) explain(ctx context.Context, report *Report, reason string) *NotReadyError {
	byNS := map[string][]int{}
	for i, s := range report.Objects {
		if s.Status == kstatus.CurrentStatus {
			continue
		}
		if obj := w.objs[i]; obj != nil {
			report.Objects[i].Conditions = abnormal(obj)
		}
		byNS[s.Ref.Namespace] = append(byNS[s.Ref.Namespace], i)
	}
	for ns, idx := range byNS {
		if ns == "" {
			continue
		}
		ev := w.c.namespaceEvents(ctx, ns)
		if ev == nil {
			continue
		}
		for _, i := range idx {
			obj := w.objs[i]
			if obj == nil {
				continue
			}
			if e := ev.latestFor(obj.GetUID()); e != nil {
				report.Objects[i].Event = formatEvent(e)
			}
		}
	}
	w.status = report.Objects
	return &NotReadyError{Reason: reason, Objects: report.NotReady()}
}

// events holds a namespace's Warning events and the ownership of its
// ReplicaSets and Pods.
type events struct {
	warnings []corev1.Event
	owner    map[types.UID]types.UID // child → controller
}

func (c *Checker) namespaceEvents(ctx context.Context, ns string) *events {
	cs := c.client.Clientset
	evList, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "type=" + corev1.EventTypeWarning})
	if err != nil {
		c.log.Debug("cannot list events", "namespace", ns, "err", err)
		return nil
	}
	ev := &events{warnings: evList.Items, owner: map[types.UID]types.UID{}}
	if pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{}); err == nil {
		for _, p := range pods.Items {
			ev.addOwner(p.UID, p.OwnerReferences)
		}
	}
	if rss, err := cs.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{}); err == nil {
		for _, rs := range rss.Items {
			ev.addOwner(rs.UID, rs.OwnerReferences)
		}
	}
	return ev
}

func (e *events) addOwner(child types.UID, refs []metav1.OwnerReference) {
	for _, r := range refs {
		if r.Controller != nil && *r.Controller {
			e.owner[child] = r.UID
			return
		}
	}
}

// ownedBy reports whether uid is root or is controlled, directly or
// through a chain (Deployment → ReplicaSet → Pod), by root.
func (e *events) ownedBy(uid, root types.UID) bool {
	for range 4 {
		if uid == root {
			return true
		}
		next, ok := e.owner[uid]
		if !ok {
			return false
		}
		uid = next
	}
	return false
}

// latestFor returns the most recent Warning event about root or what it
// owns. Events about Secrets are never used: their text is not ours to
// vouch for.
func (e *events) latestFor(root types.UID) *corev1.Event {
	if root == "" {
		return nil
	}
	var best *corev1.Event
	for i := range e.warnings {
		ev := &e.warnings[i]
		if ev.InvolvedObject.Kind == "Secret" || !e.ownedBy(ev.InvolvedObject.UID, root) {
			continue
		}
		if best == nil || eventTime(ev).After(eventTime(best).Time) {
			best = ev
		}
	}
	return best
}

func eventTime(e *corev1.Event) metav1.Time {
	switch {
	case e.Series != nil && !e.Series.LastObservedTime.IsZero():
		return metav1.Time{Time: e.Series.LastObservedTime.Time}
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp
	case !e.EventTime.IsZero():
		return metav1.Time{Time: e.EventTime.Time}
	default:
		return e.CreationTimestamp
	}
}

func formatEvent(e *corev1.Event) string {
	msg := strings.TrimSpace(e.Message)
	s := e.Reason
	if msg != "" {
		s += ": " + msg
	}
	if e.InvolvedObject.Kind == "Pod" {
		s += " (pod " + e.InvolvedObject.Name + ")"
	}
	return s
}
