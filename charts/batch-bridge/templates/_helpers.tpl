{{- define "bb.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "bb.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" -}}
{{- else if contains (include "bb.name" .) .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "bb.name" .) | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "bb.selectorLabels" -}}
app.kubernetes.io/name: {{ include "bb.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "bb.labels" -}}
{{ include "bb.selectorLabels" . }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: batch-bridge
{{- end -}}

{{- define "bb.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "bb.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The adapters that run, in a fixed order: list of names. */}}
{{- define "bb.adapters" -}}
{{- $out := list -}}
{{- range $name := list "slurm" "htcondor" -}}
{{- if (index $.Values $name).enabled -}}{{- $out = append $out $name -}}{{- end -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/* The HTTP port of an adapter: the HTCondor one is port + 1, so both fit one host network. */}}
{{- define "bb.port" -}}
{{- if eq .name "htcondor" -}}{{ add .root.Values.http.port 1 }}{{- else -}}{{ .root.Values.http.port }}{{- end -}}
{{- end -}}

{{/* Job namespaces the namespaced Role is granted in. */}}
{{- define "bb.jobNamespaces" -}}
{{- $cfg := (.Values.config.engine | default dict) -}}
{{- $ns := .Values.rbac.namespaces | default ($cfg.watch_namespaces | default list) -}}
{{- toJson $ns -}}
{{- end -}}

{{/* A volume from an identity file reference (configMap or secret). */}}
{{- define "bb.fileVolume" -}}
{{- if .ref.configMap }}
- name: {{ .name }}
  configMap: {name: {{ .ref.configMap }}, items: [{key: {{ .ref.key }}, path: {{ .file }}}]}
{{- else if .ref.secret }}
- name: {{ .name }}
  secret: {secretName: {{ .ref.secret }}, items: [{key: {{ .ref.key }}, path: {{ .file }}}]}
{{- end }}
{{- end -}}

{{- define "bb.hasFile" -}}
{{- if or .configMap .secret -}}true{{- end -}}
{{- end -}}
