package plan

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/envctl/envctl/internal/errs"
)

func mustObj(t *testing.T, y string) *unstructured.Unstructured {
	t.Helper()
	m := map[string]any{}
	if err := yaml.Unmarshal([]byte(y), &m); err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: m}
}

func TestCleanRemovesNoise(t *testing.T) {
	live := mustObj(t, `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: server
  namespace: ml
  uid: 1234
  resourceVersion: "99"
  generation: 4
  creationTimestamp: "2026-01-01T00:00:00Z"
  annotations:
    envctl.dev/digest: abc
  labels:
    app: server
  managedFields:
  - manager: envctl
spec:
  replicas: 2
status:
  readyReplicas: 2
`)
	want := mustObj(t, `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: server
  namespace: ml
  labels:
    app: server
spec:
  replicas: 2
`)
	if diff := cmp.Diff(want.Object, clean(live).Object); diff != "" {
		t.Errorf("clean (-want +got):\n%s", diff)
	}
	if _, ok := live.Object["status"]; !ok {
		t.Error("clean changed its argument")
	}
}

func TestMaskSecrets(t *testing.T) {
	const canary = "hunter2-canary"
	before := mustObj(t, `
apiVersion: v1
kind: Secret
metadata:
  name: db
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '{"data":{"password":"`+canary+`"}}'
data:
  password: `+canary+`
  user: YWRtaW4=
  removed: c2VjcmV0
`)
	after := mustObj(t, `
apiVersion: v1
kind: Secret
metadata:
  name: db
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '{"data":{"password":"`+canary+`-2"}}'
data:
  password: `+canary+`-2
  user: YWRtaW4=
  added: bmV3
stringData:
  token: `+canary+`
`)
	maskSecrets(before, after)
	yb, _ := toYAML(before)
	ya, _ := toYAML(after)
	d := unifiedDiff("live", "after", yb, ya, 3)
	if strings.Contains(d, canary) || strings.Contains(d, "YWRtaW4") || strings.Contains(d, "c2VjcmV0") {
		t.Fatalf("diff shows a secret value:\n%s", d)
	}
	wantLines := []string{
		"-  password: " + SensitiveValue,
		"+  password: " + SensitiveValueChanged,
		"-  removed: " + SensitiveValue,
		"+  added: " + SensitiveValue,
		"+  token: " + SensitiveValue,
		"   user: " + SensitiveValue,
	}
	for _, l := range wantLines {
		if !strings.Contains(d, l+"\n") {
			t.Errorf("diff lacks line %q:\n%s", l, d)
		}
	}
}

func TestMaskSecretsMalformedAndCreate(t *testing.T) {
	const canary = "plain-canary-value"
	after := mustObj(t, `
apiVersion: v1
kind: Secret
metadata: {name: bad}
data: `+canary+`
stringData:
  key: `+canary+`
`)
	maskSecrets(nil, after)
	y, _ := toYAML(after)
	if strings.Contains(y, canary) {
		t.Fatalf("masked secret still shows the value:\n%s", y)
	}
}

func TestMaskLeavesOtherKindsAlone(t *testing.T) {
	cm := mustObj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {k: v}\n")
	maskSecrets(nil, cm)
	if got, _, _ := unstructured.NestedString(cm.Object, "data", "k"); got != "v" {
		t.Errorf("ConfigMap data masked: %q", got)
	}
}

func TestPlanErrListsEveryFailure(t *testing.T) {
	p := &Plan{Items: []Item{
		{Action: Unchanged},
		{Action: Error, err: errs.Input(errors.New("dry-run Service ml/a: invalid"))},
		{Action: Error, err: errs.Cluster(errors.New("dry-run ConfigMap ml/b: timeout"))},
	}}
	err := p.Err()
	want := "2 objects failed:\n  dry-run Service ml/a: invalid\n  dry-run ConfigMap ml/b: timeout"
	if err == nil || err.Error() != want {
		t.Errorf("Err() = %q, want %q", err, want)
	}
	if errs.KindOf(err) != errs.KindInput {
		t.Errorf("kind %v, want the first failure's (input)", errs.KindOf(err))
	}
	if (&Plan{Items: []Item{{Action: Create}}}).Err() != nil {
		t.Error("Err of a plan without failures is not nil")
	}
}

// FuzzMaskSecrets checks that no value of a Secret, before or after, data or
// stringData, survives masking, whatever the keys and values.
func FuzzMaskSecrets(f *testing.F) {
	f.Add("password", "hunter2", "hunter3", true)
	f.Add("a", "", "x", false)
	f.Add("tls.crt", "-----BEGIN", "-----BEGIN", true)
	f.Fuzz(func(t *testing.T, key, oldValue, newValue string, stringData bool) {
		const mark = "LEAKMARK"
		secretOf := func(field, value string) *unstructured.Unstructured {
			return &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "v1", "kind": "Secret",
				"metadata": map[string]any{"name": "s", "annotations": map[string]any{lastApplied: mark + value}},
				field:      map[string]any{key: mark + value, "fixed": mark + "fixed"},
			}}
		}
		field := "data"
		if stringData {
			field = "stringData"
		}
		before, after := secretOf("data", oldValue), secretOf(field, newValue)
		maskSecrets(before, after)
		for _, o := range []*unstructured.Unstructured{before, after} {
			y, err := toYAML(o)
			if err != nil {
				// Keys YAML cannot hold; the error must not quote a value.
				if strings.Contains(err.Error(), mark) {
					t.Fatalf("the YAML error quotes a secret value: %v", err)
				}
				return
			}
			if strings.Contains(y, mark) {
				t.Fatalf("a secret value survived masking:\n%s", y)
			}
		}
	})
}
