{{/*
Chart name, overridable with nameOverride.
*/}}
{{- define "monitoring.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Fully qualified release name: the release name alone when it already contains
the chart name (release "monitoring" gives "monitoring").
*/}}
{{- define "monitoring.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "monitoring.prometheus.fullname" -}}
{{- printf "%s-prometheus" (include "monitoring.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "monitoring.grafana.fullname" -}}
{{- printf "%s-grafana" (include "monitoring.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Labels shared by every object; monitoring.componentLabels adds the name,
instance and component. envctl keeps them as written (its own marks live
under envctl.dev/), so the chart labels its objects as any chart does.
*/}}
{{- define "monitoring.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: ml-platform
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
Selector labels of one part of the chart; call with (dict "ctx" $ "component" "prometheus").
*/}}
{{- define "monitoring.selectorLabels" -}}
app.kubernetes.io/name: {{ .component }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- end -}}

{{- define "monitoring.componentLabels" -}}
{{ include "monitoring.labels" .ctx }}
{{ include "monitoring.selectorLabels" . }}
app.kubernetes.io/component: {{ .role }}
{{- end -}}

{{/*
An image reference from an image block of values.
*/}}
{{- define "monitoring.image" -}}
{{- printf "%s:%s" .repository .tag -}}
{{- end -}}

{{/*
Pod and container security settings that satisfy the "restricted" Pod
Security Standard the monitoring namespace enforces.
*/}}
{{- define "monitoring.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .uid }}
runAsGroup: {{ .uid }}
fsGroup: {{ .uid }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "monitoring.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: {{ .readOnlyRootFilesystem }}
capabilities:
  drop: ["ALL"]
{{- end -}}

{{- define "monitoring.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
{{ toYaml . }}
{{- end }}
{{- end -}}
