{{/* The password: kept from the release's Secret when the cluster has one, else the values'. */}}
{{- define "db.password" -}}
{{- $existing := lookup "v1" "Secret" (include "common.names.namespace" .) (include "common.names.fullname" .) -}}
{{- if and $existing $existing.data (hasKey $existing.data "password") -}}
{{- index $existing.data "password" | b64dec -}}
{{- else -}}
{{- required "db: auth.password is required when the release's Secret does not exist yet" (coalesce .Values.global.db.auth.password .Values.auth.password) -}}
{{- end -}}
{{- end -}}
