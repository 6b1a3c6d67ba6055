{{/*
The gate's settings document. Every gate.* value the gate reads (gate/settings.py's table, carried
into the chart as files/gate-settings.json) is rendered once, into the ConfigMap
<fullname>-gate-config (key gate.yaml), which the controller, the CronJobs and the sidecar mount as
a directory and read with GATE_CONFIG. The server's pod template never carries a setting, so a
`helm upgrade --set gate.floor=...` changes the ConfigMap and nothing the server runs: the sidecar
and the controller re-read the file when the kubelet swaps it in.
*/}}

{{/* tts.gateConfigName: the settings ConfigMap. */}}
{{- define "tts.gateConfigName" -}}
{{- printf "%s-gate-config" (include "tts.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end }}

{{/* tts.gateConfigDir: where every gate container finds gate.yaml (a directory mount: a subPath never updates). */}}
{{- define "tts.gateConfigDir" -}}
/etc/tts-gate
{{- end }}

{{/*
tts.gateSettingsTable: files/gate-settings.json, parsed; its `settings` rows name each setting's
key (under gate), kind, pattern, choices, whether "" means none, and an example.
*/}}
{{- define "tts.gateSettingsTable" -}}
{{- .Files.Get "files/gate-settings.json" | fromJson | toJson -}}
{{- end }}

{{/* tts.gateValue: the value at a dotted key under gate; call with (dict "gate" .Values.gate "key" "demand.url"). */}}
{{- define "tts.gateValue" -}}
{{- $v := .gate -}}
{{- range $part := splitList "." .key -}}
{{- if kindIs "map" $v }}{{ $v = get $v $part }}{{ else }}{{ $v = "" }}{{ end -}}
{{- end -}}
{{- dict "value" $v | toJson -}}
{{- end }}

{{/*
tts.gateSettingsChecks: each gate.* setting refused at render in one line, the gate's own rule
(gate/settings.py) with the value's path, what was given, what is expected and an example. The
schema leaves these values' shape to this check: Helm prints a schema failure as several lines of
JSON-schema output, before any template runs.
*/}}
{{- define "tts.gateSettingsChecks" -}}
{{- $gate := .Values.gate -}}
{{- $table := include "tts.gateSettingsTable" . | fromJson -}}
{{- /* Unknown keys: the settings' and the chart's own (image, resources, ...), nothing else. */ -}}
{{- $known := list "image" "extraEnv" "resources" "podSecurityContext" "containerSecurityContext" "imagePullSecrets" "nodeSelector" "tolerations" "affinity" "cronJobs" "controller.enabled" "controller.metricsPort" "controller.podAnnotations" "sidecar.enabled" "sidecar.metricsPort" "sidecar.tokenExpirationSeconds" -}}
{{- $groups := list -}}
{{- range $table.settings }}
{{- $known = append $known .key -}}
{{- if contains "." .key }}{{ $groups = append $groups (index (splitList "." .key) 0) }}{{ end -}}
{{- end }}
{{- $groups = concat $groups (list "controller" "sidecar") | uniq -}}
{{- range $name, $value := $gate }}
{{- if and (has $name $groups) (kindIs "map" $value) }}
{{- range $sub, $_ := $value }}
{{- if not (has (printf "%s.%s" $name $sub) $known) }}
{{- fail (printf "gate.%s.%s: unknown value; the gate's settings under gate.%s are: %s" $name $sub $name (include "tts.gateSettingsUnder" (dict "known" $known "group" $name))) }}
{{- end }}
{{- end }}
{{- else if not (has $name $known) }}
{{- fail (printf "gate.%s: unknown value (%s); see chart/README.md for the values under gate, e.g. gate.floor: 6GiB" $name (toJson $value)) }}
{{- end }}
{{- end }}
{{- /* Each setting by its kind. */ -}}
{{- range $table.settings }}
{{- $path := printf "gate.%s" .key -}}
{{- $v := (include "tts.gateValue" (dict "gate" $gate "key" .key) | fromJson).value -}}
{{- $write := printf "write %s" .example -}}
{{- if eq .kind "bool" }}
{{- if not (kindIs "bool" $v) }}{{ fail (printf "%s: %s is not true or false; %s" $path (toJson $v) $write) }}{{ end -}}
{{- else }}
{{- if not (kindIs "string" $v) }}
{{- fail (printf "%s: %s (%s) is not %s; %s" $path (toJson $v) (ternary "a number" (kindOf $v) (or (kindIs "float64" $v) (kindIs "int64" $v) (kindIs "int" $v))) .expected $write) }}
{{- end }}
{{- if eq $v "" }}
{{- if not .empty }}{{ fail (printf "%s: \"\" is not %s; %s" $path .expected $write) }}{{ end -}}
{{- else }}
{{- if and .pattern (not (regexMatch .pattern $v)) }}
{{- fail (printf "%s: %q is not %s; %s" $path $v .expected $write) }}
{{- end }}
{{- if and .choices (not (has $v .choices)) }}
{{- fail (printf "%s: %q is not %s; %s" $path $v .expected $write) }}
{{- end }}
{{- if and .positive (regexMatch "^(0+(\\.0+)?(ms|s|m|h|KiB|MiB|GiB|TiB|Ki|Mi|Gi|Ti)?)+$" $v) }}
{{- fail (printf "%s: %q is not above zero; %s" $path $v $write) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- /* What one value cannot say alone (gate/settings.py's `parse`). */ -}}
{{- $deviceLevel := (include "tts.gateSettingsTable" . | fromJson).deviceSources -}}
{{- if and $gate.device.source (has $gate.source $deviceLevel) }}
{{- fail (printf "gate.device.source: %q is a second opinion beside a per-pod source; gate.source %q is device-level already; write gate.device.source: \"\"" $gate.device.source $gate.source) }}
{{- end }}
{{- if and $gate.device.source (not $gate.device.url) }}
{{- fail (printf "gate.device.url: \"\" is not the device exporter's /metrics URL that gate.device.source %q needs; write http://nvidia-dcgm-exporter.gpu-operator.svc:9400/metrics" $gate.device.source) }}
{{- end }}
{{- if and (not $gate.total) (not $gate.device.source) (not (has $gate.source $deviceLevel)) }}
{{- fail (printf "gate.total: \"\" (read it from the device) is not possible with gate.source %q, which reports no device total; write 15360MiB (a T4), or add gate.device.source" $gate.source) }}
{{- end }}
{{- if and (eq $gate.source "prometheus") (hasSuffix "/metrics" (trimSuffix "/" $gate.metricsUrl)) }}
{{- fail (printf "gate.metricsUrl: %q is an exporter's /metrics, not the Prometheus base URL gate.source prometheus reads; write http://prometheus-server.monitoring.svc:80" $gate.metricsUrl) }}
{{- end }}
{{- if not (regexMatch "^([0-9]+|([0-9]+(ms|s|m|h))+)$" $gate.demand.idleAfter) }}
{{- fail (printf "gate.demand.idleAfter: %q is not a duration in whole units (the alerts use it in PromQL too); write 5m or 1m30s" $gate.demand.idleAfter) }}
{{- end }}
{{- end }}

{{/* tts.gateSettingsUnder: the known keys under one group, for a refusal. */}}
{{- define "tts.gateSettingsUnder" -}}
{{- $keys := list -}}
{{- range .known }}{{ if hasPrefix (printf "%s." $.group) . }}{{ $keys = append $keys (trimPrefix (printf "%s." $.group) .) }}{{ end }}{{ end -}}
{{- join ", " $keys -}}
{{- end }}

{{/*
tts.gateConfig: the settings document (gate.yaml), exactly the settings of the table, nested as
under gate. "" keeps its meaning: none (a total read from the device, any time, no demand).
*/}}
{{- define "tts.gateConfig" -}}
{{- include "tts.gateSettingsChecks" . -}}
{{- $gate := .Values.gate -}}
{{- $doc := dict -}}
{{- range (include "tts.gateSettingsTable" . | fromJson).settings }}
{{- $v := (include "tts.gateValue" (dict "gate" $gate "key" .key) | fromJson).value -}}
{{- $parts := splitList "." .key -}}
{{- if eq (len $parts) 1 }}
{{- $_ := set $doc .key $v -}}
{{- else }}
{{- $group := index $parts 0 -}}
{{- if not (hasKey $doc $group) }}{{ $_ := set $doc $group dict }}{{ end -}}
{{- $_ := set (get $doc $group) (index $parts 1) $v -}}
{{- end }}
{{- end }}
{{- toYaml $doc -}}
{{- end }}
