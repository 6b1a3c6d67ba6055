{{/*
The window is one value. gate.window and gate.timeZone decide every CronJob's schedule, so moving
the window (--set gate.window=22:00-04:00) moves window-up, window-down and the guard's hours
together. An explicit gate.cronJobs.<job>.schedule is still possible, but one that could take the
card outside the window (windowUp) or run the guard in hours the window does not cover is refused
at render time with one line naming the value. Schedules are read by the CronJob controller
(robfig/cron) on the wall clock of gate.timeZone, the same clock the gate reads the window on, so
comparing wall-clock minutes is exact; DST only adds or skips runs (values.yaml says which).
*/}}

{{/* tts.window.bounds: gate.window as JSON {"start": m, "end": m}, minutes since midnight; "" when empty. */}}
{{- define "tts.window.bounds" -}}
{{- include "tts.gateSettingsChecks" . -}}
{{- with .Values.gate.window -}}
{{- $p := regexSplit "[:-]" . -1 -}}
{{- $start := add (mul (atoi (index $p 0)) 60) (atoi (index $p 1)) -}}
{{- $end := add (mul (atoi (index $p 2)) 60) (atoi (index $p 3)) -}}
{{- if eq $start $end -}}
{{- fail (printf "gate.window %q: the start equals the end (an empty or a whole day?); use \"\" for any time" .) -}}
{{- end -}}
{{- dict "start" $start "end" $end | toJson -}}
{{- end -}}
{{- end }}

{{/* tts.window.hours: JSON list of the hours the window touches, in order from its start (02:30-06:15: 2..6). */}}
{{- define "tts.window.hours" -}}
{{- $b := include "tts.window.bounds" . | fromJson -}}
{{- $start := int $b.start -}}
{{- $end := int $b.end -}}
{{- $first := div $start 60 | int -}}
{{- /* the hour of the window's last minute (the end itself is outside) */ -}}
{{- $last := div (mod (add $end 1439) 1440) 60 | int -}}
{{- $hours := list -}}
{{- if or (lt $start $end) (eq $end 0) -}}
{{- $hours = untilStep $first (add1 $last | int) 1 -}}
{{- else -}}
{{- $hours = concat (untilStep $first 24 1) (until (add1 $last | int)) | uniq -}}
{{- end -}}
{{- toJson $hours -}}
{{- end }}

{{/* tts.window.hourField: a cron hour field for a JSON list of hours in order: [22,23,0,1] -> "22-23,0-1"; all 24 -> "*". */}}
{{- define "tts.window.hourField" -}}
{{- $hours := fromJsonArray . -}}
{{- if eq (len $hours) 24 -}}
*
{{- else -}}
{{- $runs := list -}}
{{- $from := -1 -}}
{{- $prev := -1 -}}
{{- range $h := $hours -}}
{{- $h = int $h -}}
{{- if ne $h (add $prev 1 | int) -}}
{{- if ge $from 0 }}{{ $runs = append $runs (ternary (toString $from) (printf "%d-%d" $from $prev) (eq $from $prev)) }}{{ end -}}
{{- $from = $h -}}
{{- end -}}
{{- $prev = $h -}}
{{- end -}}
{{- $runs = append $runs (ternary (toString $from) (printf "%d-%d" $from $prev) (eq $from $prev)) -}}
{{- join "," $runs -}}
{{- end -}}
{{- end }}

{{/*
tts.window.guardStep: minutes between guard runs over the window's hours: every 5 minutes for a
window of up to 4 hours (48 runs), else the smallest step that keeps the guard at 48 runs a day or
fewer (a 6-hour window: every 10 minutes). The guard CronJob is the third line of defence (the
sidecar yields within seconds, the controller within an interval); its pods are what the chart's
Job-pod budget (at most 60 a day, the issue's and the owner's concern: etcd churn, disk IOPS) pays.
*/}}
{{- define "tts.window.guardStep" -}}
{{- $n := len (include "tts.window.hours" . | fromJsonArray) -}}
{{- $step := 0 -}}
{{- range $s := list 5 6 10 12 15 20 30 -}}
{{- if and (eq $step 0) (le (mul $n (div 60 $s)) 48) }}{{ $step = $s }}{{ end -}}
{{- end -}}
{{- $step -}}
{{- end }}

{{/*
tts.cron.values: the values a cron field matches, as JSON; numbers, ranges, lists and steps, as
robfig/cron reads them. Call with (dict "field" "0-30/5" "low" 0 "high" 23 "value" "gate.cronJobs.x.schedule" "schedule" "...").
*/}}
{{- define "tts.cron.values" -}}
{{- $ctx := . -}}
{{- $values := list -}}
{{- range $part := splitList "," .field -}}
{{- $base := $part -}}
{{- $step := 1 -}}
{{- $stepped := false -}}
{{- if contains "/" $part -}}
{{- $bits := splitList "/" $part -}}
{{- $base = index $bits 0 -}}
{{- $stepped = true -}}
{{- if not (regexMatch "^[0-9]+$" (index $bits 1)) }}{{ fail (printf "%s %q: %q is not a number, range or step" $ctx.value $ctx.schedule $part) }}{{ end -}}
{{- $step = atoi (index $bits 1) -}}
{{- end -}}
{{- $lo := 0 -}}
{{- $hi := 0 -}}
{{- if has $base (list "*" "?") -}}
{{- $lo = $ctx.low -}}
{{- $hi = $ctx.high -}}
{{- else if regexMatch "^[0-9]+-[0-9]+$" $base -}}
{{- $lo = atoi (index (splitList "-" $base) 0) -}}
{{- $hi = atoi (index (splitList "-" $base) 1) -}}
{{- else if regexMatch "^[0-9]+$" $base -}}
{{- $lo = atoi $base -}}
{{- $hi = ternary $ctx.high $lo $stepped -}}
{{- else -}}
{{- fail (printf "%s %q: %q is not a number, range or step" $ctx.value $ctx.schedule $part) -}}
{{- end -}}
{{- if or (lt $step 1) (lt $lo $ctx.low) (gt $hi $ctx.high) (gt $lo $hi) -}}
{{- fail (printf "%s %q: %q is outside %d-%d" $ctx.value $ctx.schedule $part $ctx.low $ctx.high) -}}
{{- end -}}
{{- $values = concat $values (untilStep (int $lo) (add1 $hi | int) (int $step)) -}}
{{- end -}}
{{- $values | uniq | toJson -}}
{{- end }}

{{/* tts.cron.fields: a schedule's minute and hour fields, macros expanded; (dict "schedule" s "value" name) -> JSON {"minutes": [...], "hours": [...]}. */}}
{{- define "tts.cron.fields" -}}
{{- $macros := dict "@yearly" "0 0 1 1 *" "@annually" "0 0 1 1 *" "@monthly" "0 0 1 * *" "@weekly" "0 0 * * 0" "@daily" "0 0 * * *" "@midnight" "0 0 * * *" "@hourly" "0 * * * *" -}}
{{- $text := get $macros .schedule | default .schedule -}}
{{- $f := splitList " " (regexReplaceAll " +" (trim $text) " ") -}}
{{- if ne (len $f) 5 }}{{ fail (printf "%s %q: expected five fields (minute hour day month weekday)" .value .schedule) }}{{ end -}}
{{- $minutes := include "tts.cron.values" (dict "field" (index $f 0) "low" 0 "high" 59 "value" .value "schedule" .schedule) | fromJsonArray -}}
{{- $hours := include "tts.cron.values" (dict "field" (index $f 1) "low" 0 "high" 23 "value" .value "schedule" .schedule) | fromJsonArray -}}
{{- dict "minutes" $minutes "hours" $hours | toJson -}}
{{- end }}

{{/*
tts.gate.schedule: the schedule of one gate CronJob; call with (dict "root" $ "job" "windowUp"),
job one of windowUp, guard, windowDown. "" means the CronJob is not made: with gate.window ""
(any time) there is no window to open or close.
*/}}
{{- define "tts.gate.schedule" -}}
{{- $root := .root -}}
{{- $window := $root.Values.gate.window -}}
{{- $explicit := (index $root.Values.gate.cronJobs .job).schedule -}}
{{- $value := printf "gate.cronJobs.%s.schedule" .job -}}
{{- if not $window -}}
  {{- if and $explicit (ne .job "guard") -}}
    {{- fail (printf "%s %q: gate.window is \"\" (any time), so there is no window to open or close; leave it \"\"" $value $explicit) -}}
  {{- end -}}
  {{- if eq .job "guard" -}}
    {{- /* Any time: the card may be held at any hour, so the safety net runs all day; every 30
    minutes is 48 pods a day (the sidecar and the controller react within seconds). */ -}}
    {{- $explicit | default "*/30 * * * *" -}}
  {{- end -}}
{{- else -}}
  {{- $b := include "tts.window.bounds" $root | fromJson -}}
  {{- $start := int $b.start -}}
  {{- $end := int $b.end -}}
  {{- $hours := include "tts.window.hours" $root -}}
  {{- $hourField := include "tts.window.hourField" $hours -}}
  {{- if not $explicit -}}
    {{- if eq .job "windowUp" -}}
      {{- printf "%d %d * * *" (mod $start 60) (div $start 60) -}}
    {{- else if eq .job "windowDown" -}}
      {{- printf "%d %d * * *" (mod $end 60) (div $end 60) -}}
    {{- else -}}
      {{- printf "*/%s %s * * *" (include "tts.window.guardStep" $root) $hourField -}}
    {{- end -}}
  {{- else -}}
    {{- $fields := include "tts.cron.fields" (dict "schedule" $explicit "value" $value) | fromJson -}}
    {{- if eq .job "windowUp" -}}
      {{- /* It takes the card: every minute it can fire at must be inside [start, end). */ -}}
      {{- $outside := "" -}}
      {{- range $h := $fields.hours -}}
        {{- range $m := $fields.minutes -}}
          {{- $t := add (mul (int $h) 60) (int $m) -}}
          {{- $inside := ternary (and (ge $t $start) (lt $t $end)) (or (ge $t $start) (lt $t $end)) (lt $start $end) -}}
          {{- if and (not $inside) (not $outside) }}{{ $outside = printf "%02d:%02d" (int $h) (int $m) }}{{ end -}}
        {{- end -}}
      {{- end -}}
      {{- if $outside -}}
        {{- fail (printf "%s %q fires at %s, outside gate.window %q (%s): it would take the card there; leave it \"\" to follow the window" $value $explicit $outside $window $root.Values.gate.timeZone) -}}
      {{- end -}}
    {{- else if eq .job "guard" -}}
      {{- /* Only the hours the window covers: all day, the guard would be 288 Job pods. */ -}}
      {{- $covered := list -}}
      {{- range $h := fromJsonArray $hours }}{{ $covered = append $covered (int $h) }}{{ end -}}
      {{- range $h := $fields.hours -}}
        {{- if not (has (int $h) $covered) -}}
          {{- fail (printf "%s %q runs in hour %d, outside the hours gate.window %q covers (%s): a guard all day is 288 Job pods; leave it \"\" to follow the window" $value $explicit (int $h) $window $hourField) -}}
        {{- end -}}
      {{- end -}}
    {{- end -}}
    {{- $explicit -}}
  {{- end -}}
{{- end -}}
{{- end }}
