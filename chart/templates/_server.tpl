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
*/}}
{{- define "tts.serverChecks" -}}
{{- $resources := .Values.server.resources -}}
{{- $limit := dig "limits" "memory" "" $resources -}}
{{- $request := dig "requests" "memory" "" $resources -}}
{{- if and $limit $request }}
{{- $parked := .Values.server.control.parkedHostMemory -}}
{{- $limitBytes := include "tts.sizeBytes" (dict "value" $limit "key" "server.resources.limits.memory") | atoi -}}
{{- $needed := add (include "tts.sizeBytes" (dict "value" $request "key" "server.resources.requests.memory") | atoi) (include "tts.sizeBytes" (dict "value" $parked "key" "server.control.parkedHostMemory") | atoi) -}}
{{- if lt $limitBytes $needed }}
{{- fail (printf "server.resources.limits.memory %s cannot hold a parked model: it must be at least requests.memory %s plus server.control.parkedHostMemory %s" $limit $request $parked) }}
{{- end }}
{{- end }}
{{- end }}
