package render

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/envctl/envctl/internal/config"
)

// writeTree writes files (repo-relative path -> content) under root.
func writeTree(tb testing.TB, root string, files map[string]string) {
	tb.Helper()
	for rel, content := range files {
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

// kustomizeTreeApps is how many applications the public-style kustomize
// tree holds; each renders to 10 objects.
const kustomizeTreeApps = 25

// publicKustomizeTree writes a kustomize tree shaped like the ones platform
// teams publish: one base per application (ServiceAccount, Role,
// RoleBinding, ConfigMap, Service, Deployment, PodDisruptionBudget,
// HorizontalPodAutoscaler, NetworkPolicy and a generated ConfigMap), and an
// overlay that takes every base with a namespace, common labels, an image
// override and strategic-merge and JSON patches. It renders to 250 objects.
func publicKustomizeTree(tb testing.TB) string {
	tb.Helper()
	root := tb.TempDir()
	files := map[string]string{}
	var bases strings.Builder
	for i := range kustomizeTreeApps {
		app := fmt.Sprintf("svc%02d", i)
		dir := "bases/" + app + "/"
		files[dir+"kustomization.yaml"] = `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
labels:
  - pairs:
      app.kubernetes.io/name: ` + app + `
    includeSelectors: true
resources:
  - rbac.yaml
  - config.yaml
  - workload.yaml
  - policy.yaml
configMapGenerator:
  - name: ` + app + `-env
    literals:
      - LOG_LEVEL=info
      - APP=` + app + `
    files:
      - files/app.properties
`
		files[dir+"files/app.properties"] = "server.port=8080\nmetrics.enabled=true\ncache.size=512\n"
		files[dir+"rbac.yaml"] = `apiVersion: v1
kind: ServiceAccount
metadata:
  name: ` + app + `
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: ` + app + `
rules:
  - apiGroups: [""]
    resources: [configmaps, secrets]
    verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: ` + app + `
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: ` + app + `
subjects:
  - kind: ServiceAccount
    name: ` + app + `
`
		files[dir+"config.yaml"] = `apiVersion: v1
kind: ConfigMap
metadata:
  name: ` + app + `-config
data:
  config.yaml: |
    listen: :8080
    upstreams:
      - http://backend:8080
      - http://cache:6379
    timeouts: {read: 5s, write: 10s}
`
		files[dir+"workload.yaml"] = `apiVersion: v1
kind: Service
metadata:
  name: ` + app + `
spec:
  ports:
    - name: http
      port: 80
      targetPort: http
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: ` + app + `
spec:
  replicas: 1
  template:
    spec:
      serviceAccountName: ` + app + `
      containers:
        - name: app
          image: registry.example.com/` + app + `:1.0.0
          ports:
            - name: http
              containerPort: 8080
          envFrom:
            - configMapRef:
                name: ` + app + `-env
          readinessProbe:
            httpGet: {path: /healthz, port: http}
          resources:
            requests: {cpu: 100m, memory: 128Mi}
            limits: {cpu: 500m, memory: 256Mi}
          volumeMounts:
            - name: config
              mountPath: /etc/app
      volumes:
        - name: config
          configMap:
            name: ` + app + `-config
`
		files[dir+"policy.yaml"] = `apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: ` + app + `
spec:
  minAvailable: 1
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: ` + app + `
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: ` + app + `
  minReplicas: 1
  maxReplicas: 5
  metrics:
    - type: Resource
      resource:
        name: cpu
        target: {type: Utilization, averageUtilization: 70}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: ` + app + `
spec:
  podSelector: {}
  ingress:
    - ports:
        - port: 8080
`
		fmt.Fprintf(&bases, "  - ../../bases/%s\n", app)
	}
	files["overlays/prod/kustomization.yaml"] = `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: apps
labels:
  - pairs:
      app.kubernetes.io/part-of: shop
      team: platform
resources:
` + bases.String() + `images:
  - name: registry.example.com/svc00
    newTag: 1.0.1
patches:
  - target:
      kind: Deployment
    patch: |-
      apiVersion: apps/v1
      kind: Deployment
      metadata:
        name: any
      spec:
        template:
          spec:
            securityContext:
              runAsNonRoot: true
  - target:
      kind: HorizontalPodAutoscaler
    patch: |-
      - op: replace
        path: /spec/maxReplicas
        value: 10
`
	writeTree(tb, root, files)
	return root
}

// benchChartCount is how many releases the chart environment holds.
const benchChartCount = 5

// publicChart is the files of a chart shaped like the ones `helm create`
// starts and public charts grow into: helpers, a Deployment, Service,
// ServiceAccount, ConfigMap, HPA, Ingress and PodDisruptionBudget, most of
// them behind values switches.
func publicChart(name string) map[string]string {
	return map[string]string{
		"Chart.yaml": `apiVersion: v2
name: ` + name + `
version: 1.2.3
appVersion: "4.5.6"
kubeVersion: ">=1.25.0-0"
`,
		"values.yaml": `replicaCount: 2
image:
  repository: registry.example.com/` + name + `
  tag: ""
  pullPolicy: IfNotPresent
serviceAccount:
  create: true
  annotations: {}
service:
  type: ClusterIP
  port: 80
ingress:
  enabled: true
  className: nginx
  hosts:
    - host: ` + name + `.example.com
      paths: [{path: /, pathType: Prefix}]
resources:
  requests: {cpu: 100m, memory: 128Mi}
autoscaling:
  enabled: true
  minReplicas: 2
  maxReplicas: 8
  targetCPUUtilizationPercentage: 75
podDisruptionBudget:
  enabled: true
  minAvailable: 1
config:
  logLevel: info
  features: [a, b, c]
`,
		"templates/_helpers.tpl": `{{- define "chart.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- define "chart.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{ include "chart.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}
{{- define "chart.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
`,
		"templates/serviceaccount.yaml": `{{- if .Values.serviceAccount.create }}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "chart.fullname" . }}
  labels:
    {{- include "chart.labels" . | nindent 4 }}
  {{- with .Values.serviceAccount.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
`,
		"templates/configmap.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "chart.fullname" . }}
  labels:
    {{- include "chart.labels" . | nindent 4 }}
data:
  config.yaml: |
    {{- toYaml .Values.config | nindent 4 }}
`,
		"templates/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "chart.fullname" . }}
  labels:
    {{- include "chart.labels" . | nindent 4 }}
spec:
  {{- if not .Values.autoscaling.enabled }}
  replicas: {{ .Values.replicaCount }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "chart.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      annotations:
        checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
      labels:
        {{- include "chart.selectorLabels" . | nindent 8 }}
    spec:
      serviceAccountName: {{ include "chart.fullname" . }}
      containers:
        - name: {{ .Chart.Name }}
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
          imagePullPolicy: {{ .Values.image.pullPolicy }}
          ports:
            - name: http
              containerPort: 8080
          resources:
            {{- toYaml .Values.resources | nindent 12 }}
`,
		"templates/service.yaml": `apiVersion: v1
kind: Service
metadata:
  name: {{ include "chart.fullname" . }}
  labels:
    {{- include "chart.labels" . | nindent 4 }}
spec:
  type: {{ .Values.service.type }}
  ports:
    - port: {{ .Values.service.port }}
      targetPort: http
      name: http
  selector:
    {{- include "chart.selectorLabels" . | nindent 4 }}
`,
		"templates/hpa.yaml": `{{- if .Values.autoscaling.enabled }}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "chart.fullname" . }}
  labels:
    {{- include "chart.labels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "chart.fullname" . }}
  minReplicas: {{ .Values.autoscaling.minReplicas }}
  maxReplicas: {{ .Values.autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ .Values.autoscaling.targetCPUUtilizationPercentage }}
{{- end }}
`,
		"templates/ingress.yaml": `{{- if .Values.ingress.enabled }}
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {{ include "chart.fullname" . }}
  labels:
    {{- include "chart.labels" . | nindent 4 }}
spec:
  ingressClassName: {{ .Values.ingress.className }}
  rules:
    {{- range .Values.ingress.hosts }}
    - host: {{ .host | quote }}
      http:
        paths:
          {{- range .paths }}
          - path: {{ .path }}
            pathType: {{ .pathType }}
            backend:
              service:
                name: {{ include "chart.fullname" $ }}
                port:
                  number: {{ $.Values.service.port }}
          {{- end }}
    {{- end }}
{{- end }}
`,
		"templates/pdb.yaml": `{{- if .Values.podDisruptionBudget.enabled }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "chart.fullname" . }}
spec:
  minAvailable: {{ .Values.podDisruptionBudget.minAvailable }}
  selector:
    matchLabels:
      {{- include "chart.selectorLabels" . | nindent 6 }}
{{- end }}
`,
	}
}

// chartEnvironment writes benchChartCount charts and returns the repository
// and an environment with one release of each.
func chartEnvironment(tb testing.TB) (string, *config.Environment) {
	tb.Helper()
	root := tb.TempDir()
	env := &config.Environment{
		APIVersion: config.APIVersion, Kind: config.KindEnvironment,
		Metadata: config.Metadata{Name: "bench"}, File: "environments/bench.yaml",
	}
	for i := range benchChartCount {
		name := fmt.Sprintf("chart%d", i)
		files := map[string]string{}
		for rel, content := range publicChart(name) {
			files["charts/"+name+"/"+rel] = content
		}
		writeTree(tb, root, files)
		env.Spec.Components = append(env.Spec.Components, config.Component{
			Name: name,
			Helm: &config.HelmRelease{Chart: "charts/" + name, Namespace: "apps",
				Values: map[string]any{"config": map[string]any{"logLevel": "debug"}}},
		})
	}
	env.ApplyDefaults(config.DefaultSettings())
	return root, env
}

// BenchmarkRenderKustomizeTree renders a 250-object public-style
// kustomization (publicKustomizeTree) as one component.
func BenchmarkRenderKustomizeTree(b *testing.B) {
	root := publicKustomizeTree(b)
	env := &config.Environment{
		APIVersion: config.APIVersion, Kind: config.KindEnvironment,
		Metadata: config.Metadata{Name: "bench"}, File: "environments/bench.yaml",
		Spec: config.EnvironmentSpec{Components: []config.Component{{Name: "apps", Kustomize: "overlays/prod"}}},
	}
	env.ApplyDefaults(config.DefaultSettings())
	benchRender(b, Options{
		Source: fixtureSnapshot(b, root), Environment: env,
		Settings: config.RenderSettings{Concurrency: 4, KubeVersion: "v1.33.0"},
	}, kustomizeTreeApps*10)
}

// BenchmarkRenderCharts renders an environment of benchChartCount Helm
// releases of public-style charts.
func BenchmarkRenderCharts(b *testing.B) {
	root, env := chartEnvironment(b)
	benchRender(b, Options{
		Source: fixtureSnapshot(b, root), Environment: env,
		Settings: config.RenderSettings{Concurrency: 4, KubeVersion: "v1.33.0"},
	}, benchChartCount*7)
}

func benchRender(b *testing.B, opts Options, want int) {
	opts.ChartCacheDir = filepath.Join(b.TempDir(), "charts")
	b.ReportAllocs()
	var objects int
	for b.Loop() {
		res, err := Render(context.Background(), opts)
		if err != nil {
			b.Fatal(err)
		}
		objects = len(res.Items())
	}
	if objects < want {
		b.Fatalf("rendered %d objects, want at least %d", objects, want)
	}
	b.ReportMetric(float64(objects), "objects")
}
