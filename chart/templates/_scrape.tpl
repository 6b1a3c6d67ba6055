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

{{/*
tts.metrics.serverAnnotations: the annotations for one place of the server's, its pod template or
its Service; call with (dict "root" $ "place" "pod"). The sidecar's port where it is scraped
there, else the server's own where tts.metrics.serverPlace puts it there.
*/}}
{{- define "tts.metrics.serverAnnotations" -}}
{{- $values := .root.Values -}}
{{- if and $values.gate.sidecar.enabled (eq $values.metrics.scrapeAnnotations .place) }}
{{ include "tts.metrics.annotations" $values.gate.sidecar.metricsPort }}
{{- else if eq (include "tts.metrics.serverPlace" .root) .place }}
{{ include "tts.metrics.annotations" $values.server.metricsPort }}
{{- end }}
{{- end }}

{{/* tts.metrics.podAnnotations: for the server pod template's annotations. */}}
{{- define "tts.metrics.podAnnotations" -}}
{{- include "tts.metrics.serverAnnotations" (dict "root" . "place" "pod") -}}
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
{{- include "tts.metrics.serverAnnotations" (dict "root" . "place" "service") -}}
{{- end }}
