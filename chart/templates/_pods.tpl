{{/*
tts.imagePullSecrets: `imagePullSecrets:` for a pod, global.imagePullSecrets first, then the
component's own list (bitnami's convention: entries are {name: x} or a bare name), each name once;
nothing when both are empty. Call with (dict "root" $ "secrets" .Values.server.imagePullSecrets).
*/}}
{{- define "tts.imagePullSecrets" -}}
{{- $names := list -}}
{{- range concat (.root.Values.global.imagePullSecrets | default list) (.secrets | default list) -}}
{{- if kindIs "string" . }}{{ $names = append $names . }}{{ else }}{{ $names = append $names .name }}{{ end -}}
{{- end -}}
{{- with $names | compact | uniq }}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end }}

{{/*
tts.gatePlacement: nodeSelector, tolerations and affinity for every gate pod (the controller, the
CronJobs' pods, the test pod), from gate.nodeSelector, gate.tolerations and gate.affinity.
*/}}
{{- define "tts.gatePlacement" -}}
{{- with .Values.gate.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.gate.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.gate.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* tts.gateLeaseName: the coordination.k8s.io Lease the gate keeps its state in, <server.name>-gate. */}}
{{- define "tts.gateLeaseName" -}}
{{- printf "%s-gate" (include "tts.serverName" .) -}}
{{- end }}
