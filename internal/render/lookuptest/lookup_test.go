package render

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/envctl/envctl/internal/testenv"
)

// TestChartLookup renders the demo chart, whose Deployment gains an env var
// when lookup finds the Secret demo-external, against a real API server
// holding that Secret: the lookup sees it only when the settings allow it.
func TestChartLookup(t *testing.T) {
	env := testenv.Get(t)
	ns := env.Namespace(t)
	_, err := env.Clientset().CoreV1().Secrets(ns).Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "demo-external"},
		StringData: map[string]string{"token": canary},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, allow := range []bool{false, true} {
		res, err := renderFixture(t, "testdata/repo", func(o *Options) {
			o.Environment.Component("demo").Helm.Namespace = ns
			o.Settings.AllowChartLookup = allow
			o.Cluster = ClusterLookup(env.RESTConfig())
		})
		if err != nil {
			t.Fatal(err)
		}
		dep := findObject(t, res, "Deployment", "demo")
		containers, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
		_, found := containers[0].(map[string]any)["env"]
		if found != allow {
			t.Errorf("allowChartLookup %v: lookup found the Secret: %v", allow, found)
		}
	}
}
