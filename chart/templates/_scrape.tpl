{{/*
prometheus.io/* annotations for the gate's metrics (the sidecar's port), honoured by the
prometheus-community chart's kubernetes-pods (pod) and kubernetes-service-endpoints (service)
jobs. metrics.scrapeAnnotations picks one place, so the same series are never scraped twice.
*/}}

{{/* tts.metrics.annotations: the three annotations for one metrics port (the argument). */}}
{{- define "tts.metrics.annotations" -}}
prometheus.io/scrape: "true"
prometheus.io/port: {{ . | quote }}
prometheus.io/path: /metrics
{{- end }}

{{/*
tts.metrics.serverPlace: where the server's own metrics port (server.metricsPort) is annotated.
One place holds one port: with the sidecar's annotations on the pod, the server's go on the
Service (its endpoints are the same pod), and the other way round; without the sidecar, where
metrics.scrapeAnnotations says. "none" for none.
*/}}
{{- define "tts.metrics.serverPlace" -}}
{{- $place := .Values.metrics.scrapeAnnotations -}}
{{- if and .Values.gate.sidecar.enabled (ne $place "none") -}}
{{- ternary "service" "pod" (eq $place "pod") -}}
{{- else -}}
{{- $place -}}
{{- end -}}
{{- end }}

{{/* tts.metrics.podAnnotations: for the server pod template's annotations. */}}
{{- define "tts.metrics.podAnnotations" -}}
{{- if and .Values.gate.sidecar.enabled (eq .Values.metrics.scrapeAnnotations "pod") }}
{{ include "tts.metrics.annotations" .Values.gate.sidecar.metricsPort }}
{{- else if eq (include "tts.metrics.serverPlace" .) "pod" }}
{{ include "tts.metrics.annotations" .Values.server.metricsPort }}
{{- end }}
{{- end }}

{{/*
tts.metrics.controllerPodAnnotations: for the controller's pod (`gate run`, its own target: the
same series names from another pod, never the same scrape twice). It has no Service, so with
scrapeAnnotations pod or service its pod carries them; none leaves it unannotated.
*/}}
{{- define "tts.metrics.controllerPodAnnotations" -}}
{{- if and .Values.gate.controller.enabled (ne .Values.metrics.scrapeAnnotations "none") }}
{{ include "tts.metrics.annotations" .Values.gate.controller.metricsPort }}
{{- end }}
{{- end }}

{{/* tts.metrics.serviceAnnotations: for the server Service's annotations. */}}
{{- define "tts.metrics.serviceAnnotations" -}}
{{- if and .Values.gate.sidecar.enabled (eq .Values.metrics.scrapeAnnotations "service") }}
{{ include "tts.metrics.annotations" .Values.gate.sidecar.metricsPort }}
{{- else if eq (include "tts.metrics.serverPlace" .) "service" }}
{{ include "tts.metrics.annotations" .Values.server.metricsPort }}
{{- end }}
{{- end }}
