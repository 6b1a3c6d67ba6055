{{/*
tts.ownersDefaults: the values whose defaults are the owner's cluster's and wrong for almost
everyone else (his time zone, his client's namespace, his Prometheus' namespace), as JSON
{"value": default}. NOTES warns while any is still his; tests/test_docs.py holds this list equal
to values.yaml's defaults and to README.md#the-values-that-matter.
*/}}
{{- define "tts.ownersDefaults" -}}
{{- dict "gate.timeZone" "Europe/London" "networkPolicy.clientNamespaces" (list "tripit") "networkPolicy.monitoringNamespace" "monitoring" | toJson -}}
{{- end }}

{{/* tts.ownersValuesLeft: the values of tts.ownersDefaults still at the owner's default, as a JSON list of "name=value". */}}
{{- define "tts.ownersValuesLeft" -}}
{{- $given := dict "gate.timeZone" .Values.gate.timeZone "networkPolicy.clientNamespaces" .Values.networkPolicy.clientNamespaces "networkPolicy.monitoringNamespace" .Values.networkPolicy.monitoringNamespace -}}
{{- $left := list -}}
{{- range $name, $default := include "tts.ownersDefaults" . | fromJson -}}
{{- $value := index $given $name -}}
{{- /* Without the NetworkPolicies their namespaces admit nothing: nothing to warn about. */ -}}
{{- if and (eq (toJson $value) (toJson $default)) (or $.Values.networkPolicy.enabled (not (hasPrefix "networkPolicy." $name))) -}}
{{- $left = append $left (printf "%s=%s" $name (kindIs "slice" $value | ternary (printf "{%s}" (join "," $value)) (toString $value))) -}}
{{- end -}}
{{- end -}}
{{- toJson $left -}}
{{- end }}
