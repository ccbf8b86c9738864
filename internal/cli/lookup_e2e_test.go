package cli

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/envctl/envctl/internal/testenv"
)

// TestChartLookupReachesCluster checks that render.allowChartLookup in
// config.yaml gives a chart's lookup the target cluster in apply and diff,
// while `envctl render`, which has no cluster, renders the chart as if
// nothing were found.
func TestChartLookupReachesCluster(t *testing.T) {
	e := newE2E(t, "lookup")
	te := testenv.Get(t)
	ctx := context.Background()
	if _, err := te.Clientset().CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: e.ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := te.Clientset().CoreV1().ConfigMaps(e.ns).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "source"},
		Data:       map[string]string{"endpoint": "http://feature-store:6379"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.write("config.yaml", `apiVersion: envctl.dev/v1alpha1
kind: Config
metadata:
  name: e2e
spec:
  defaultEnvironment: lookup
  render:
    allowChartLookup: true
  apply:
    timeout: 90s
`)
	e.write("environments/lookup.yaml", `apiVersion: envctl.dev/v1alpha1
kind: Environment
metadata:
  name: lookup
spec:
  cluster:
    provider: existing
    existing:
      kubeconfig: `+e.kubeconfig+`
  components:
    - name: app
      helm:
        chart: charts/derived
        release: derived
        namespace: `+e.ns+`
`)
	e.write("charts/derived/Chart.yaml", "apiVersion: v2\nname: derived\nversion: 0.1.0\n")
	e.write("charts/derived/templates/configmap.yaml", `{{- $src := lookup "v1" "ConfigMap" .Release.Namespace "source" }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: derived
  namespace: {{ .Release.Namespace }}
data:
  endpoint: {{ if $src }}{{ $src.data.endpoint | quote }}{{ else }}"none"{{ end }}
`)

	e.mustRun(0, "apply")
	got, err := te.Clientset().CoreV1().ConfigMaps(e.ns).Get(ctx, "derived", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := "http://feature-store:6379"; got.Data["endpoint"] != want {
		t.Errorf("apply: derived endpoint %q, want %q (the chart's lookup did not see the cluster)", got.Data["endpoint"], want)
	}
	// diff renders with the same lookup, so it sees nothing to change.
	e.mustRun(diffExitNoChanges, "diff")
	// render has no cluster: the lookup finds nothing.
	stdout, _ := e.mustRun(0, "render")
	if want := `endpoint: none`; !strings.Contains(stdout, want) {
		t.Errorf("render without a cluster: want %q in\n%s", want, stdout)
	}
}
