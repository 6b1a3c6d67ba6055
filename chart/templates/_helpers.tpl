{{/*
tts.name: the chart name, or nameOverride; cut to 63 characters (a DNS label).
*/}}
{{- define "tts.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
tts.fullname: the prefix of the gate's objects. The release name alone when it already
contains the chart name (`helm install tts ./chart` gives `tts`).
*/}}
{{- define "tts.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
tts.serverName: the server Deployment's and Service's name, which clients address.
*/}}
{{- define "tts.serverName" -}}
{{- .Values.server.name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
tts.gateName: <fullname>-gate, the name of the gate's own objects: the controller Deployment, its
ServiceAccount (unless serviceAccount.name), Role, RoleBinding, NetworkPolicy and PrometheusRule.
*/}}
{{- define "tts.gateName" -}}
{{- printf "%s-gate" (include "tts.fullname" .) -}}
{{- end }}

{{/*
tts.cronJobName: a gate CronJob's name, <fullname>-<job>; call with (dict "root" $ "job" "guard").
52 characters at most, the API's limit for a CronJob (its Jobs append an 11-character suffix).
*/}}
{{- define "tts.cronJobName" -}}
{{- printf "%s-%s" (include "tts.fullname" .root) .job | trunc 52 | trimSuffix "-" -}}
{{- end }}

{{/* tts.gateLeaseName: the coordination.k8s.io Lease the gate keeps its state in, <server.name>-gate. */}}
{{- define "tts.gateLeaseName" -}}
{{- printf "%s-gate" (include "tts.serverName" .) -}}
{{- end }}

{{/*
tts.chart: name and version for the helm.sh/chart label (`+` is not allowed in labels).
*/}}
{{- define "tts.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
tts.selectorLabels: name and instance only; call with (dict "root" $ "component" "...").
The component is part of the selector so the CronJobs' pods never join the Service.
*/}}
{{- define "tts.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tts.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
tts.version: app.kubernetes.io/version for a component; call like tts.labels. The gate's objects
(components gate*, and the test pod, which runs the gate) carry the gate's version, its image tag
(none when pinned by digest alone); the rest carry the server's, its image tag or the upstream
commit's first 8 characters (the tag `make build-image` gives). Made a valid label value.
*/}}
{{- define "tts.version" -}}
{{- $values := .root.Values -}}
{{- $version := "" -}}
{{- if or (hasPrefix "gate" .component) (eq .component "test") -}}
{{- $version = $values.gate.image.tag -}}
{{- else -}}
{{- $version = $values.server.image.tag | default (.root.Chart.AppVersion | trunc 8) -}}
{{- end -}}
{{- regexReplaceAll "[^-A-Za-z0-9_.]" (toString $version) "-" | trunc 63 | trimAll "-_." -}}
{{- end }}

{{/*
tts.labels: every object's labels; call with (dict "root" $ "component" "...").
commonLabels stay out of selectors, which cannot change after creation.
*/}}
{{- define "tts.labels" -}}
helm.sh/chart: {{ include "tts.chart" .root }}
{{ include "tts.selectorLabels" . }}
{{- with include "tts.version" . }}
app.kubernetes.io/version: {{ . | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: tts
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
tts.metadata: an object's `metadata:` with the release namespace (or "namespace"; none with
"cluster" true) and the component's labels; call with (dict "root" $ "name" "..." "component"
"gate" ["labels" map] ["annotations" map] ["namespace" "..."] ["cluster" true]).
*/}}
{{- define "tts.metadata" -}}
metadata:
  name: {{ .name }}
  {{- if not .cluster }}
  namespace: {{ .namespace | default .root.Release.Namespace }}
  {{- end }}
  labels:
    {{- include "tts.labels" (dict "root" .root "component" .component) | nindent 4 }}
    {{- with .labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}

{{/*
tts.gateServiceAccountName: the gate's ServiceAccount.
*/}}
{{- define "tts.gateServiceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "tts.gateName" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
tts.image: repository:tag or repository@digest; call with (dict "image" .Values.x.image "default" "tag").
*/}}
{{- define "tts.image" -}}
{{- if .image.digest }}
{{- printf "%s@%s" .image.repository .image.digest }}
{{- else }}
{{- printf "%s:%s" .image.repository (default .default .image.tag) }}
{{- end }}
{{- end }}

{{/*
tts.serverImage: the server image; its default tag is the upstream commit's first 8 characters.
*/}}
{{- define "tts.serverImage" -}}
{{- include "tts.image" (dict "image" .Values.server.image "default" (.Chart.AppVersion | trunc 8)) }}
{{- end }}

{{/*
tts.gateImage: the gate image.
*/}}
{{- define "tts.gateImage" -}}
{{- include "tts.image" (dict "image" .Values.gate.image "default" "") }}
{{- end }}

{{/*
tts.claimName: the /data claim, the chart's own or an existing one.
*/}}
{{- define "tts.claimName" -}}
{{- if eq .Values.persistence.type "existingClaim" }}
{{- .Values.persistence.existingClaim }}
{{- else }}
{{- printf "%s-data" (include "tts.serverName" .) }}
{{- end }}
{{- end }}

{{/*
tts.liveReplicas: the replicas of a looked-up Deployment (the argument), 0 when there is none.
See server-deployment.yaml for why the chart renders the live count.
*/}}
{{- define "tts.liveReplicas" -}}
{{- if and . .spec }}{{ .spec.replicas | default 0 | int }}{{ else }}0{{ end }}
{{- end }}
