package kind

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// The ownership marker: a ConfigMap envctl writes into every kind cluster
// it creates, so that the cluster says it is envctl's even when the
// record in the state directory is lost (a new laptop, a wiped home).
const (
	markerNamespace = metav1.NamespaceSystem
	markerName      = "envctl-cluster"
)

// marker is what the ownership marker says.
type marker struct {
	Cluster string
	Runtime string
	Created time.Time
}

// writeMarker creates the marker unless the cluster has one.
func writeMarker(ctx context.Context, cs kubernetes.Interface, r record) error {
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name: markerName, Namespace: markerNamespace,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "envctl"},
		},
		Data: map[string]string{
			"provider": "kind",
			"cluster":  r.Name,
			"runtime":  r.Runtime,
			"created":  r.Created.UTC().Format(time.RFC3339),
		},
	}
	_, err := cs.CoreV1().ConfigMaps(markerNamespace).Create(ctx, cm, metav1.CreateOptions{FieldManager: "envctl"})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("write ownership marker %s/%s: %w", markerNamespace, markerName, err)
	}
	return nil
}

// readMarker returns the cluster's marker; nil when it has none.
func readMarker(ctx context.Context, cs kubernetes.Interface) (*marker, error) {
	cm, err := cs.CoreV1().ConfigMaps(markerNamespace).Get(ctx, markerName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read ownership marker %s/%s: %w", markerNamespace, markerName, err)
	}
	if cm.Labels["app.kubernetes.io/managed-by"] != "envctl" {
		return nil, nil
	}
	m := &marker{Cluster: cm.Data["cluster"], Runtime: cm.Data["runtime"]}
	m.Created, _ = time.Parse(time.RFC3339, cm.Data["created"])
	return m, nil
}
