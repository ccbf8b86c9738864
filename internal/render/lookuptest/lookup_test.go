package lookuptest

import (
	"context"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/render"
	"github.com/envctl/envctl/internal/source"
	"github.com/envctl/envctl/internal/testenv"
)

// TestChartLookup renders the demo chart of render's fixture repository,
// whose Deployment gains an env var when lookup finds the Secret
// demo-external, against a real API server holding that Secret: the lookup
// sees it only when the settings allow it.
func TestChartLookup(t *testing.T) {
	env := testenv.Get(t)
	ns := env.Namespace(t)
	_, err := env.Clientset().CoreV1().Secrets(ns).Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "demo-external"},
		StringData: map[string]string{"token": "lookup-test-value"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := source.Local(filepath.Join("..", "testdata", "repo"))
	if err != nil {
		t.Fatal(err)
	}
	for _, allow := range []bool{false, true} {
		e := &config.Environment{
			APIVersion: config.APIVersion,
			Kind:       config.KindEnvironment,
			Metadata:   config.Metadata{Name: "dev"},
			File:       "environments/dev.yaml",
			Spec: config.EnvironmentSpec{Components: []config.Component{{Name: "demo", Helm: &config.HelmRelease{
				Chart:       "charts/demo",
				Namespace:   ns,
				ValuesFiles: []string{"values/demo-base.yaml", "values/demo-dev.yaml"},
			}}}},
		}
		e.ApplyDefaults(config.DefaultSettings())
		res, err := render.Render(context.Background(), render.Options{
			Source:        snap,
			Environment:   e,
			Settings:      config.RenderSettings{Concurrency: 1, KubeVersion: "v1.33.0", AllowChartLookup: allow},
			ChartCacheDir: filepath.Join(t.TempDir(), "charts"),
			Cluster:       render.ClusterLookup(env.RESTConfig()),
		})
		if err != nil {
			t.Fatal(err)
		}
		var dep *unstructured.Unstructured
		for _, it := range res.Items() {
			if it.Object.GetKind() == "Deployment" && it.Object.GetName() == "demo" {
				dep = it.Object
			}
		}
		if dep == nil {
			t.Fatal("the demo chart rendered no Deployment demo")
		}
		containers, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
		_, found := containers[0].(map[string]any)["env"]
		if found != allow {
			t.Errorf("allowChartLookup %v: lookup found the Secret: %v", allow, found)
		}
	}
}
