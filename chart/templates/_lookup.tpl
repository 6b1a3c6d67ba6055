{{/*
tts.lookup: the chart's only call of Helm's `lookup`, as JSON (fromJson it); call with
(dict "apiVersion" "v1" "kind" "Namespace" "namespace" "" "name" "kube-system"); name "" lists.
Everything that decides from the cluster goes through here, so the tests replace this one file
with a stand-in cluster and render the real chart (`lookup` cannot be fed offline). Offline
(helm template, client dry runs) it answers {}.
*/}}
{{- define "tts.lookup" -}}
{{- toJson (lookup .apiVersion .kind .namespace .name) -}}
{{- end }}
