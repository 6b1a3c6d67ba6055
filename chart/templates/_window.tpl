{{/*
The window is one value. gate.window and gate.timeZone decide every CronJob's schedule, so moving
the window (--set gate.window=22:00-04:00) moves window-up, window-down and the guard's hours
together. The derivation is the gate's (gate/cron.py `chart_schedules`, which `gate replay` runs
too); this file only reads the window's four numbers and looks the guard up in the table the gate
generated (files/gate-constants.json, `make settings`). Schedules are read by the CronJob
controller on the wall clock of gate.timeZone, the clock the gate reads the window on; DST only
adds or skips runs (values.yaml says which).
*/}}

{{/* tts.window.times: gate.window's numbers as JSON [startHour, startMinute, endHour, endMinute]; [] for "" (any time). */}}
{{- define "tts.window.times" -}}
{{- $times := list -}}
{{- with .Values.gate.window -}}
{{- range regexSplit "[:-]" (toString .) -1 }}{{ $times = append $times (atoi .) }}{{ end -}}
{{- end -}}
{{- toJson $times -}}
{{- end }}

{{/*
tts.window.schedules: the three gate CronJobs' schedules as JSON {windowUp, guard, windowDown}:
window-up at the window's start, window-down at its end, the guard from the gate's table under
gate/cron.py's `guard_key` (start hour, end hour, ":00" when the end is on the hour, " overnight"
when the window runs past midnight). "" for a CronJob not made: with gate.window "" (any time)
there is no window to open or close, and the guard runs all day.
*/}}
{{- define "tts.window.schedules" -}}
{{- $constants := include "tts.gateConstants" . | fromJson -}}
{{- $t := include "tts.window.times" . | fromJsonArray -}}
{{- if $t -}}
{{- $startHour := index $t 0 | int }}{{ $startMinute := index $t 1 | int }}{{ $endHour := index $t 2 | int }}{{ $endMinute := index $t 3 | int -}}
{{- $overnight := or (gt $startHour $endHour) (and (eq $startHour $endHour) (gt $startMinute $endMinute)) -}}
{{- $key := printf "%d-%d%s%s" $startHour $endHour (ternary ":00" "" (eq $endMinute 0)) (ternary " overnight" "" $overnight) -}}
{{- dict "windowUp" (printf "%d %d * * *" $startMinute $startHour) "guard" (get $constants.guardByWindow $key) "windowDown" (printf "%d %d * * *" $endMinute $endHour) | toJson -}}
{{- else -}}
{{- dict "windowUp" "" "guard" $constants.anyTimeGuard "windowDown" "" | toJson -}}
{{- end -}}
{{- end }}
