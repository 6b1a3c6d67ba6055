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
tts.gateServiceAccountName: the gate's ServiceAccount.
*/}}
{{- define "tts.gateServiceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (printf "%s-gate" (include "tts.fullname" .)) .Values.serviceAccount.name }}
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
tts.gateEnv: who the gate is and where its settings are; the settings themselves are the mounted
document (templates/_settings.tpl), never variables, so changing one never changes a pod template.
The controller, the CronJobs, the sidecar and the test pod share it.
*/}}
{{- define "tts.gateEnv" -}}
{{- include "tts.gateSettingsChecks" . -}}
- name: GATE_NAMESPACE
  value: {{ .Release.Namespace | quote }}
- name: GATE_DEPLOYMENT
  value: {{ include "tts.serverName" . | quote }}
- name: GATE_CONFIG
  value: {{ printf "%s/gate.yaml" (include "tts.gateConfigDir" .) | quote }}
{{- with .Values.gate.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
tts.gateContainerBase: image, security context and resources shared by every gate container.
*/}}
{{- define "tts.gateContainerBase" -}}
image: {{ include "tts.gateImage" . | quote }}
imagePullPolicy: {{ .Values.gate.image.pullPolicy }}
securityContext:
  {{- toYaml .Values.gate.containerSecurityContext | nindent 2 }}
resources:
  {{- toYaml .Values.gate.resources | nindent 2 }}
volumeMounts:
  - name: tmp
    mountPath: /tmp
  - name: gate-config
    mountPath: {{ include "tts.gateConfigDir" . }}
    readOnly: true
{{- end }}

{{/* tts.gateConfigVolume: the settings ConfigMap as a volume (mounted whole: subPath mounts never update). */}}
{{- define "tts.gateConfigVolume" -}}
- name: gate-config
  configMap:
    name: {{ include "tts.gateConfigName" . }}
{{- end }}

{{/*
tts.gateCronJob: one CronJob running one gate command; call with
(dict "root" $ "job" "window-up" "command" "preflight" "schedule" "..." ["suspend" true "why" "..."]
["args" (list "--output" "text")]): args follow the command (a flag beats its GATE_* variable).
*/}}
{{- define "tts.gateCronJob" -}}
{{- $root := .root -}}
{{- $cron := $root.Values.gate.cronJobs -}}
apiVersion: batch/v1
kind: CronJob
metadata:
  name: {{ printf "%s-%s" (include "tts.fullname" $root) .job | trunc 52 | trimSuffix "-" }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "tts.labels" (dict "root" $root "component" (printf "gate-%s" .job)) | nindent 4 }}
spec:
  schedule: {{ .schedule | quote }}
  timeZone: {{ $root.Values.gate.timeZone | quote }}
  {{- if .suspend }}
  # {{ .why | default "Never scheduled: run it by hand with `kubectl create job --from=cronjob/...`." }}
  suspend: true
  {{- end }}
  concurrencyPolicy: Forbid
  startingDeadlineSeconds: {{ $cron.startingDeadlineSeconds }}
  successfulJobsHistoryLimit: {{ $cron.successfulJobsHistoryLimit }}
  failedJobsHistoryLimit: {{ $cron.failedJobsHistoryLimit }}
  jobTemplate:
    metadata:
      labels:
        {{- include "tts.labels" (dict "root" $root "component" (printf "gate-%s" .job)) | nindent 8 }}
    spec:
      # A failed run is not retried: the next scheduled run decides again from fresh metrics.
      backoffLimit: 0
      activeDeadlineSeconds: {{ $cron.activeDeadlineSeconds }}
      ttlSecondsAfterFinished: {{ $cron.ttlSecondsAfterFinished }}
      template:
        metadata:
          labels:
            {{- include "tts.selectorLabels" (dict "root" $root "component" (printf "gate-%s" .job)) | nindent 12 }}
        spec:
          serviceAccountName: {{ include "tts.gateServiceAccountName" $root }}
          # The ServiceAccount mounts no token by default (the server pod must not get one).
          automountServiceAccountToken: true
          restartPolicy: Never
          {{- with include "tts.imagePullSecrets" (dict "root" $root "secrets" $root.Values.gate.imagePullSecrets) | trim }}
          {{- . | nindent 10 }}
          {{- end }}
          {{- with include "tts.gatePlacement" $root | trim }}
          {{- . | nindent 10 }}
          {{- end }}
          securityContext:
            {{- toYaml $root.Values.gate.podSecurityContext | nindent 12 }}
          containers:
            - name: gate
              args:
                - {{ .command }}
                {{- range .args }}
                - {{ . | quote }}
                {{- end }}
              env:
                {{- include "tts.gateEnv" $root | nindent 16 }}
                # The one line each run writes (its report), as the loops' log lines.
                - name: GATE_OUTPUT
                  value: {{ $root.Values.gate.logFormat | quote }}
                # Undecided by half the Job's deadline, the run gives the card back and exits 3
                # before the Job is killed with the card still held.
                - name: GATE_DEADLINE
                  value: {{ printf "%ds" (div (int $cron.activeDeadlineSeconds) 2) | quote }}
              {{- include "tts.gateContainerBase" $root | nindent 14 }}
          volumes:
            - name: tmp
              emptyDir:
                sizeLimit: 16Mi
            {{- include "tts.gateConfigVolume" $root | nindent 12 }}
{{- end }}

{{/*
tts.claimName: the /data claim, the chart's own or an existing one.
*/}}
{{- define "tts.claimName" -}}
{{- if eq .Values.persistence.type "existingClaim" }}
{{- required "persistence.existingClaim is required when persistence.type is existingClaim" .Values.persistence.existingClaim }}
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
