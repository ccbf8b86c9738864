package apply

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

func TestAsSent(t *testing.T) {
	tests := []struct {
		name     string
		in, want string // want empty: sent as rendered
		left     []LeftField
	}{
		{
			name: "aggregated ClusterRole with rules: []",
			in: `{apiVersion: rbac.authorization.k8s.io/v1, kind: ClusterRole, metadata: {name: a},
			  aggregationRule: {clusterRoleSelectors: [{matchLabels: {x: "true"}}]}, rules: []}`,
			want: `{apiVersion: rbac.authorization.k8s.io/v1, kind: ClusterRole, metadata: {name: a},
			  aggregationRule: {clusterRoleSelectors: [{matchLabels: {x: "true"}}]}}`,
			left: []LeftField{{Path: ".rules", Owner: "clusterrole-aggregation-controller"}},
		},
		{
			name: "aggregated ClusterRole without rules",
			in: `{apiVersion: rbac.authorization.k8s.io/v1, kind: ClusterRole, metadata: {name: a},
			  aggregationRule: {clusterRoleSelectors: []}}`,
		},
		{
			name: "plain ClusterRole keeps its rules",
			in: `{apiVersion: rbac.authorization.k8s.io/v1, kind: ClusterRole, metadata: {name: a},
			  rules: [{apiGroups: [""], resources: [pods], verbs: [get]}]}`,
		},
		{
			name: "Role is not aggregated",
			in:   `{apiVersion: rbac.authorization.k8s.io/v1, kind: Role, metadata: {name: a}, aggregationRule: {}, rules: []}`,
		},
		{
			name: "webhook configuration with an injected CA",
			in: `{apiVersion: admissionregistration.k8s.io/v1, kind: ValidatingWebhookConfiguration,
			  metadata: {name: v, annotations: {cert-manager.io/inject-ca-from: ns/cert}},
			  webhooks: [{name: a.example.com, clientConfig: {caBundle: Cg==, service: {name: s, namespace: ns}}},
			             {name: b.example.com, clientConfig: {url: "https://127.0.0.1:1"}}]}`,
			want: `{apiVersion: admissionregistration.k8s.io/v1, kind: ValidatingWebhookConfiguration,
			  metadata: {name: v, annotations: {cert-manager.io/inject-ca-from: ns/cert}},
			  webhooks: [{name: a.example.com, clientConfig: {service: {name: s, namespace: ns}}},
			             {name: b.example.com, clientConfig: {url: "https://127.0.0.1:1"}}]}`,
			left: []LeftField{{Path: `.webhooks[name="a.example.com"].clientConfig.caBundle`, Owner: "the CA injector (cert-manager.io/inject-ca-from)"}},
		},
		{
			name: "webhook configuration without injection keeps its CA",
			in: `{apiVersion: admissionregistration.k8s.io/v1, kind: MutatingWebhookConfiguration, metadata: {name: m},
			  webhooks: [{name: a.example.com, clientConfig: {caBundle: Cg==}}]}`,
		},
		{
			name: "CRD conversion webhook",
			in: `{apiVersion: apiextensions.k8s.io/v1, kind: CustomResourceDefinition,
			  metadata: {name: ws.example.com, annotations: {cert-manager.io/inject-ca-from-secret: ns/s}},
			  spec: {conversion: {strategy: Webhook, webhook: {clientConfig: {caBundle: "", service: {name: s, namespace: ns}}}}}}`,
			want: `{apiVersion: apiextensions.k8s.io/v1, kind: CustomResourceDefinition,
			  metadata: {name: ws.example.com, annotations: {cert-manager.io/inject-ca-from-secret: ns/s}},
			  spec: {conversion: {strategy: Webhook, webhook: {clientConfig: {service: {name: s, namespace: ns}}}}}}`,
			left: []LeftField{{Path: ".spec.conversion.webhook.clientConfig.caBundle", Owner: "the CA injector (cert-manager.io/inject-ca-from-secret)"}},
		},
		{
			name: "APIService",
			in: `{apiVersion: apiregistration.k8s.io/v1, kind: APIService, metadata: {name: v1.x.example.com, annotations: {cert-manager.io/inject-apiserver-ca: "true"}},
			  spec: {caBundle: Cg==, group: x.example.com, version: v1}}`,
			want: `{apiVersion: apiregistration.k8s.io/v1, kind: APIService, metadata: {name: v1.x.example.com, annotations: {cert-manager.io/inject-apiserver-ca: "true"}},
			  spec: {group: x.example.com, version: v1}}`,
			left: []LeftField{{Path: ".spec.caBundle", Owner: "the CA injector (cert-manager.io/inject-apiserver-ca)"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := parse(t, tt.in)
			before := in.DeepCopy()
			got, left := AsSent(in)
			want := in
			if tt.want != "" {
				want = parse(t, tt.want)
			}
			if d := cmp.Diff(want.Object, got.Object); d != "" {
				t.Errorf("object as sent (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tt.left, left); d != "" {
				t.Errorf("left fields (-want +got):\n%s", d)
			}
			if d := cmp.Diff(before.Object, in.Object); d != "" {
				t.Errorf("AsSent changed its input:\n%s", d)
			}
		})
	}
}

func TestDescribeLeft(t *testing.T) {
	got := DescribeLeft([]LeftField{{Path: ".rules", Owner: "clusterrole-aggregation-controller"}, {Path: ".spec.caBundle", Owner: "x"}})
	want := "not applied, owned by a controller: .rules (clusterrole-aggregation-controller), .spec.caBundle (x)"
	if got != want {
		t.Errorf("DescribeLeft = %q, want %q", got, want)
	}
	if DescribeLeft(nil) != "" {
		t.Error("DescribeLeft(nil) is not empty")
	}
}

func parse(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		t.Fatalf("test manifest: %v", err)
	}
	return u
}
