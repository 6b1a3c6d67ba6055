{{/*
tts.serverControlSecretName: the Secret holding the control port's token (key `token`): the
operator's server.control.existingSecret, or the one server-control-secret.yaml makes.
*/}}
{{- define "tts.serverControlSecretName" -}}
{{- .Values.server.control.existingSecret | default (printf "%s-control" (include "tts.serverName" .)) -}}
{{- end }}

{{/*
tts.serverChecks: refusals about the server pod, at render time. A parked server keeps its
weights in host memory on top of what it uses serving: a memory limit below the request plus
server.control.parkedHostMemory would have the kernel kill a park with the card still held.
The three quantities are compared in whole MiB: each must be written as whole Mi or Gi (the
usual spelling of a pod's memory), which a multiplication turns into MiB — no size parser.
*/}}
{{- define "tts.serverChecks" -}}
{{- $resources := .Values.server.resources -}}
{{- $limit := dig "limits" "memory" "" $resources -}}
{{- $request := dig "requests" "memory" "" $resources -}}
{{- if and $limit $request }}
{{- $parked := .Values.server.control.parkedHostMemory -}}
{{- $limitMiB := include "tts.wholeMebibytes" (dict "value" $limit "key" "server.resources.limits.memory") | atoi -}}
{{- $requestMiB := include "tts.wholeMebibytes" (dict "value" $request "key" "server.resources.requests.memory") | atoi -}}
{{- $parkedMiB := include "tts.wholeMebibytes" (dict "value" $parked "key" "server.control.parkedHostMemory") | atoi -}}
{{- if lt $limitMiB (add $requestMiB $parkedMiB) }}
{{- fail (printf "server.resources.limits.memory %s cannot hold a parked model: it must be at least requests.memory %s plus server.control.parkedHostMemory %s" $limit $request $parked) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
tts.wholeMebibytes: "3584Mi" -> 3584, "12Gi" -> 12288; anything else (another unit, a fraction)
is refused in one line naming the value. Call with (dict "value" ... "key" "server....").
*/}}
{{- define "tts.wholeMebibytes" -}}
{{- $text := toString .value -}}
{{- if not (regexMatch "^[0-9]+(Mi|Gi)$" $text) }}
{{- fail (printf "%s %q: write it in whole Mi or Gi (e.g. 12Gi or 3584Mi), so the chart can check that the memory limit holds a parked model" .key $text) }}
{{- end }}
{{- $number := regexFind "^[0-9]+" $text | atoi -}}
{{- ternary (mul $number 1024) $number (hasSuffix "Gi" $text) -}}
{{- end }}
