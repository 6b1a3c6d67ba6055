{{/*
prometheus.io/* annotations for the gate's metrics (the sidecar's port), honoured by the
prometheus-community chart's kubernetes-pods (pod) and kubernetes-service-endpoints (service)
jobs. metrics.scrapeAnnotations picks one place, so the same series are never scraped twice.
*/}}

{{/* tts.metrics.podAnnotations: for the server pod template's annotations. */}}
{{- define "tts.metrics.podAnnotations" -}}
{{- if and .Values.gate.sidecar.enabled (eq .Values.metrics.scrapeAnnotations "pod") }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .Values.gate.sidecar.metricsPort | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- end }}

{{/* tts.metrics.serviceAnnotations: for the server Service's annotations. */}}
{{- define "tts.metrics.serviceAnnotations" -}}
{{- if and .Values.gate.sidecar.enabled (eq .Values.metrics.scrapeAnnotations "service") }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .Values.gate.sidecar.metricsPort | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- end }}
