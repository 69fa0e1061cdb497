{{- define "gateway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "gateway.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "gateway.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "gateway.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "gateway.redisSelectorLabels" -}}
app.kubernetes.io/name: {{ include "gateway.name" . }}-redis
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "gateway.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "gateway.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "gateway.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "gateway.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* A setting's value as its environment variable reads it: lists comma-separated, maps JSON. */}}
{{- define "gateway.envValue" -}}
{{- if kindIs "slice" . -}}{{ join "," . }}
{{- else if kindIs "map" . -}}{{ toJson . }}
{{- else if kindIs "float64" . -}}{{ . | toString }}
{{- else -}}{{ . | toString }}
{{- end -}}
{{- end -}}

{{/* More than one pod: replicas, or autoscaling. */}}
{{- define "gateway.replicated" -}}
{{- if or .Values.autoscaling.enabled (gt (int .Values.replicaCount) 1) -}}true{{- end -}}
{{- end -}}

{{/*
Seconds Kubernetes waits after SIGTERM before killing a pod: the drain, the request deadline
and the shutdown's 5 s grace for responses (app/http/serving.py), plus 5 s to spare.
*/}}
{{- define "gateway.terminationGrace" -}}
{{- $drain := .Values.config.drain_seconds | default 0 | float64 -}}
{{- $deadline := .Values.config.request_timeout | default 5 | float64 -}}
{{- add (ceil $drain | int) (ceil $deadline | int) 10 -}}
{{- end -}}

{{/* The ports of the configured upstream URLs (and the JWKS URL), for the NetworkPolicy. */}}
{{- define "gateway.upstreamPorts" -}}
{{- $ports := list -}}
{{- range $name, $value := .Values.config -}}
{{- if and (or (hasSuffix "_url" $name) (eq $name "jwks_url")) $value -}}
{{- $url := urlParse (toString $value) -}}
{{- $port := "" -}}
{{- if contains ":" $url.host -}}{{- $port = last (splitList ":" $url.host) -}}
{{- else if eq $url.scheme "http" -}}{{- $port = "80" -}}
{{- else -}}{{- $port = "443" -}}{{- end -}}
{{- $ports = append $ports $port -}}
{{- end -}}
{{- end -}}
{{- $ports | uniq | sortAlpha | join "," -}}
{{- end -}}
