{{/* Standard labels merged with custom ones, which may be templates: (dict "customLabels" .Values.commonLabels "context" $) */}}
{{- define "common.labels.standard" -}}
{{- $default := dict "app.kubernetes.io/name" (include "common.names.name" .context) "helm.sh/chart" (printf "%s-%s" .context.Chart.Name .context.Chart.Version) "app.kubernetes.io/instance" .context.Release.Name "app.kubernetes.io/managed-by" .context.Release.Service -}}
{{- with .context.Chart.AppVersion -}}
{{- $_ := set $default "app.kubernetes.io/version" . -}}
{{- end -}}
{{- $custom := dict -}}
{{- with .customLabels -}}
{{- $custom = fromYaml (include "common.tplvalues.render" (dict "value" . "context" $.context)) -}}
{{- end -}}
{{ merge $custom $default | toYaml }}
{{- end -}}

{{- define "common.labels.matchLabels" -}}
app.kubernetes.io/name: {{ include "common.names.name" .context }}
app.kubernetes.io/instance: {{ .context.Release.Name }}
{{- end -}}
