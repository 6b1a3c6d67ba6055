{{/*
The gate's CronJobs: the safety net if the controller and the sidecar are both gone (window-up,
the guard, window-down, with schedules from the window: _window.tpl), and `gate status` on
demand. One body for all four (tts.gateCronJob), one table of the scheduled three
(tts.gateScheduledJobs) that their templates, NOTES.txt and the alerts read.
*/}}

{{/*
tts.gateScheduledJobs: the window's three CronJobs as JSON, keyed by their value under
gate.cronJobs: {job, command, schedule, made, suspend, why}. `made`: enabled, with a schedule
(window-up and window-down have none with gate.window "", any time). Window-up is the only one
that takes the card, so it alone is suspended while gate.enabled is false.
*/}}
{{- define "tts.gateScheduledJobs" -}}
{{- $schedules := include "tts.window.schedules" . | fromJson -}}
{{- $jobs := dict -}}
{{- range $row := list (list "windowUp" "window-up" "preflight") (list "guard" "guard" "guard") (list "windowDown" "window-down" "down") -}}
{{- $value := index $row 0 -}}
{{- $schedule := get $schedules $value -}}
{{- $job := dict "job" (index $row 1) "command" (index $row 2) "schedule" $schedule "made" (and (get $.Values.gate.cronJobs $value).enabled (ne $schedule "")) -}}
{{- if and (eq $value "windowUp") (not $.Values.gate.enabled) -}}
{{- $_ := merge $job (dict "suspend" true "why" "gate.enabled is false: paused, nothing takes the card (--set gate.enabled=true resumes).") -}}
{{- end -}}
{{- $_ := set $jobs $value $job -}}
{{- end -}}
{{- toJson $jobs -}}
{{- end }}

{{/* tts.gateScheduledJob: the CronJob of one of the three, if made; call with (dict "root" $ "value" "guard"). */}}
{{- define "tts.gateScheduledJob" -}}
{{- $job := get (include "tts.gateScheduledJobs" .root | fromJson) .value -}}
{{- if $job.made -}}
{{- include "tts.gateCronJob" (merge (dict "root" .root) $job) -}}
{{- end -}}
{{- end }}

{{/*
tts.gateCronJob: one CronJob running one gate command; call with
(dict "root" $ "job" "window-up" "command" "preflight" "schedule" "..." ["suspend" true "why" "..."]
["args" (list "--output" "text")]): args follow the command (a flag beats its GATE_* variable).
*/}}
{{- define "tts.gateCronJob" -}}
{{- $root := .root -}}
{{- $cron := $root.Values.gate.cronJobs -}}
{{- $component := printf "gate-%s" .job -}}
apiVersion: batch/v1
kind: CronJob
{{ include "tts.metadata" (dict "root" $root "name" (include "tts.cronJobName" .) "component" $component) }}
spec:
  schedule: {{ .schedule | quote }}
  timeZone: {{ $root.Values.gate.timeZone | quote }}
  {{- if .suspend }}
  # {{ .why | default "Never scheduled: run it by hand with `kubectl create job --from=cronjob/...`." }}
  suspend: true
  {{- end }}
  concurrencyPolicy: Forbid
  {{- pick $cron "startingDeadlineSeconds" "successfulJobsHistoryLimit" "failedJobsHistoryLimit" | toYaml | nindent 2 }}
  jobTemplate:
    metadata:
      labels:
        {{- include "tts.labels" (dict "root" $root "component" $component) | nindent 8 }}
    spec:
      # A failed run is not retried: the next scheduled run decides again from fresh metrics.
      backoffLimit: 0
      activeDeadlineSeconds: {{ $cron.activeDeadlineSeconds }}
      ttlSecondsAfterFinished: {{ $cron.ttlSecondsAfterFinished }}
      template:
        metadata:
          labels:
            {{- include "tts.selectorLabels" (dict "root" $root "component" $component) | nindent 12 }}
        spec:
          restartPolicy: Never
          {{- include "tts.gatePod" $root | nindent 10 }}
          {{- /* The one line each run writes (its report), as the loops' log lines. Undecided by
          half the Job's deadline, the run gives the card back and exits 3 before the Job is
          killed with the card still held. */}}
          {{- $env := list (dict "name" "GATE_OUTPUT" "value" (toString $root.Values.gate.logFormat)) (dict "name" "GATE_DEADLINE" "value" (printf "%ds" (div (int $cron.activeDeadlineSeconds) 2))) }}
          containers:
            {{- include "tts.gateContainer" (dict "root" $root "args" (prepend (.args | default list) .command) "env" $env) | nindent 12 }}
{{- end }}
