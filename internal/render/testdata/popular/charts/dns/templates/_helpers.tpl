{{- define "dns.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "dns.fullname" -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "dns.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dns.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "dns.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{ include "dns.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "dns.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{ default (include "dns.fullname" .) .Values.serviceAccount.name }}
{{- else -}}
{{ default "default" .Values.serviceAccount.name }}
{{- end -}}
{{- end -}}

{{/* The provider, which may be written as a template. */}}
{{- define "dns.providerName" -}}
{{- tpl (required "dns: provider.name is required (aws, google, cloudflare, ...)" .Values.provider.name) . -}}
{{- end -}}

{{/* seccompProfile is a field from Kubernetes 1.19 on. */}}
{{- define "dns.podSecurityContext" -}}
{{- if semverCompare "<1.19-0" .Capabilities.KubeVersion.Version -}}
{{ omit .Values.podSecurityContext "seccompProfile" | toYaml }}
{{- else -}}
{{ toYaml .Values.podSecurityContext }}
{{- end -}}
{{- end -}}
