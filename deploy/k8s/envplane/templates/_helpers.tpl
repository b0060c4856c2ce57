{{/* Common labels for every object of the release. */}}
{{- define "envplane.labels" -}}
app.kubernetes.io/part-of: envplane
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}
