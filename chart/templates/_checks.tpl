{{/*
tts.checks: every refusal of one card (call with its context: templates/_cards.tpl), the values'
and the cluster's; the cards together are tts.cardChecks'.
*/}}
{{- define "tts.checks" -}}
{{- include "tts.valueChecks" . -}}
{{- include "tts.cardDeviceChecks" . -}}
{{- include "tts.clusterChecks" (dict "root" . "facts" (include "tts.clusterFacts" . | fromJson)) -}}
{{- end }}

{{/*
tts.valueChecks: refusals no schema can express, at render time (helm template and install alike),
each one line naming the value. Called from templates/validation/checks.yaml alone, which Helm
renders first, so every refusal names that file and no other (the gate's own containers and the
test pod render nothing that can fail).
- the gate's settings: templates/_settings.tpl's checks; the server pod's: _server.tpl's;
- a window whose start is its end (empty, or a whole day?) and a time zone the gate does not know
  (the list is the gate's, files/gate-constants.json);
- an explicit CronJob schedule: the schedules follow gate.window (docs/design.md says why);
- a chart that cannot guard: with the controller, the sidecar and the guard CronJob all off,
  nothing gives the card back while the server holds it (window-down only at the window's end);
- a value another one needs: persistence.existingClaim, persistence.nfs.server,
  server.priorityClassName for priorityClass.create.
A floor at or above gate.total is the gate's to refuse (it reads sizes; the chart does not): every
gate container refuses such a settings file in one line, and `helm test` fails with it.
*/}}
{{- define "tts.valueChecks" -}}
{{- include "tts.gateSettingsChecks" . -}}
{{- include "tts.serverChecks" . -}}
{{- $gate := .Values.gate -}}
{{- $constants := include "tts.gateConstants" . | fromJson -}}
{{- $t := include "tts.window.times" . | fromJsonArray -}}
{{- if and $t (eq (index $t 0) (index $t 2)) (eq (index $t 1) (index $t 3)) }}
{{- fail (printf "gate.window %q: the start equals the end (an empty or a whole day?); use \"\" for any time" $gate.window) }}
{{- end }}
{{- if not (has $gate.timeZone $constants.timeZones) }}
{{- $near := list -}}
{{- $prefix := regexFind "^[^/]+/[A-Za-z]" (toString $gate.timeZone) -}}
{{- range $constants.timeZones }}{{ if and $prefix (hasPrefix $prefix .) }}{{ $near = append $near . }}{{ end }}{{ end -}}
{{- $hint := ternary "" (printf " (near it: %s)" (join ", " $near)) (empty $near) -}}
{{- fail (printf "gate.timeZone %q is not an IANA time zone the gate knows%s; write e.g. Europe/London, America/New_York or UTC" (toString $gate.timeZone) $hint) }}
{{- end }}
{{- range $value := list "windowUp" "guard" "windowDown" }}
{{- with (get $gate.cronJobs $value).schedule }}
{{- fail (printf "gate.cronJobs.%s.schedule %q: the CronJobs' schedules follow gate.window and gate.timeZone; remove it (or move gate.window)" $value .) }}
{{- end }}
{{- end }}
{{- if not (or $gate.controller.enabled $gate.sidecar.enabled $gate.cronJobs.guard.enabled) }}
{{- fail "nothing would give the card back while the server holds it: set gate.controller.enabled, gate.sidecar.enabled or gate.cronJobs.guard.enabled to true" }}
{{- end }}
{{- if and (eq .Values.persistence.type "existingClaim") (not .Values.persistence.existingClaim) }}
{{- fail "persistence.existingClaim is required when persistence.type is existingClaim" }}
{{- end }}
{{- if and (eq .Values.persistence.type "nfs") (not .Values.persistence.nfs.server) }}
{{- fail "persistence.nfs.server is required when persistence.type is nfs" }}
{{- end }}
{{- if and .Values.priorityClass.create (not .Values.server.priorityClassName) }}
{{- fail "server.priorityClassName names the PriorityClass to create" }}
{{- end }}
{{- end }}

{{/*
tts.sourceServices: the memory sources the gate reads whose URL names an in-cluster Service
(http://<service>.<namespace>.svc...), as a JSON list of {key, url, name, namespace}: gate.metricsUrl
always, gate.device.url with a device source. A URL by IP, another domain or a short name is
not looked up (it cannot be told from a typo without DNS).
*/}}
{{- define "tts.sourceServices" -}}
{{- $urls := list (list "gate.metricsUrl" .Values.gate.metricsUrl) -}}
{{- if .Values.gate.device.source }}{{ $urls = append $urls (list "gate.device.url" .Values.gate.device.url) }}{{ end -}}
{{- $services := list -}}
{{- range $urls }}
{{- $url := index . 1 | toString -}}
{{- $host := regexFind "^[a-z0-9]([-a-z0-9]*[a-z0-9])?\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?\\.svc([.:/]|$)" (regexReplaceAll "^https?://" $url "") -}}
{{- if and $host (regexMatch "^https?://" $url) }}
{{- $parts := splitList "." $host -}}
{{- $services = append $services (dict "key" (index . 0) "url" $url "name" (index $parts 0) "namespace" (index $parts 1)) -}}
{{- end }}
{{- end }}
{{- toJson $services -}}
{{- end }}

{{/*
tts.clusterFacts: what the install checks read from the cluster, as JSON (fromJson it), every
read through tts.lookup. `online` is whether the kube-system Namespace answered: every cluster
has it, and offline rendering (helm template, client dry runs) answers nothing, which cannot be
told from "missing", so the checks are skipped then and NOTES.txt says what was not checked.
*/}}
{{- define "tts.clusterFacts" -}}
{{- $facts := dict "online" false -}}
{{- if .Values.clusterChecks.enabled -}}
{{- $probe := include "tts.lookup" (dict "apiVersion" "v1" "kind" "Namespace" "namespace" "" "name" "kube-system") | fromJson -}}
{{- if $probe -}}
{{- $ns := .Release.Namespace -}}
{{- $_ := set $facts "online" true -}}
{{- with .Values.server.priorityClassName }}
{{- $_ := set $facts "priorityClass" (include "tts.lookup" (dict "apiVersion" "scheduling.k8s.io/v1" "kind" "PriorityClass" "namespace" "" "name" .) | fromJson) -}}
{{- end }}
{{- with .Values.server.runtimeClassName }}
{{- $_ := set $facts "runtimeClass" (include "tts.lookup" (dict "apiVersion" "node.k8s.io/v1" "kind" "RuntimeClass" "namespace" "" "name" .) | fromJson) -}}
{{- end }}
{{- if eq .Values.persistence.type "pvc" }}
{{- $_ := set $facts "claim" (include "tts.lookup" (dict "apiVersion" "v1" "kind" "PersistentVolumeClaim" "namespace" $ns "name" (include "tts.claimName" .)) | fromJson) -}}
{{- $_ := set $facts "storageClasses" (include "tts.lookup" (dict "apiVersion" "storage.k8s.io/v1" "kind" "StorageClass" "namespace" "" "name" "") | fromJson) -}}
{{- else if eq .Values.persistence.type "existingClaim" }}
{{- $_ := set $facts "claim" (include "tts.lookup" (dict "apiVersion" "v1" "kind" "PersistentVolumeClaim" "namespace" $ns "name" (include "tts.claimName" .)) | fromJson) -}}
{{- end }}
{{- $_ := set $facts "server" (include "tts.lookup" (dict "apiVersion" "apps/v1" "kind" "Deployment" "namespace" $ns "name" (include "tts.serverName" .)) | fromJson) -}}
{{- $sources := list -}}
{{- range (include "tts.sourceServices" . | fromJsonArray) }}
{{- $found := include "tts.lookup" (dict "apiVersion" "v1" "kind" "Service" "namespace" .namespace "name" .name) | fromJson -}}
{{- $sources = append $sources (merge (dict "found" (not (empty $found))) .) -}}
{{- end }}
{{- $_ := set $facts "sources" $sources -}}
{{- end -}}
{{- end -}}
{{- toJson $facts -}}
{{- end }}

{{/*
tts.clusterChecks: stop `helm install` (and upgrade) with one line when what the server pod
needs is not in the cluster; call with (dict "root" $ "facts" <tts.clusterFacts, parsed>).
Without them the install succeeds and the first night fails: the server starts at 0 replicas,
so nothing is scheduled until the gate scales it at 02:00. Offline it checks nothing.
*/}}
{{- define "tts.clusterChecks" -}}
{{- $v := .root.Values -}}
{{- $f := .facts -}}
{{- if $f.online -}}
{{- if and $v.server.priorityClassName (not $v.priorityClass.create) (not $f.priorityClass) }}
{{- fail (printf "server.priorityClassName: PriorityClass %q does not exist; set server.priorityClassName to an existing class or \"\", or priorityClass.create=true" $v.server.priorityClassName) }}
{{- end }}
{{- if and $v.server.runtimeClassName (not $f.runtimeClass) }}
{{- fail (printf "server.runtimeClassName: RuntimeClass %q does not exist; set server.runtimeClassName to an existing class, or \"\" where the NVIDIA runtime is the node's default (k3s, gpu-operator)" $v.server.runtimeClassName) }}
{{- end }}
{{- if and (eq $v.persistence.type "existingClaim") (not $f.claim) }}
{{- fail (printf "persistence.existingClaim: PersistentVolumeClaim %q does not exist in namespace %s; create it first or set persistence.type" $v.persistence.existingClaim .root.Release.Namespace) }}
{{- end }}
{{- /* Cards share an existing claim: on several nodes only a ReadWriteMany one mounts on all. */ -}}
{{- if and .root.Card (eq $v.persistence.type "existingClaim") $f.claim (not (has "ReadWriteMany" (dig "spec" "accessModes" (list) $f.claim))) }}
{{- $nodes := list -}}
{{- range $name, $card := $v.cards }}{{ $nodes = append $nodes (toString $card.node) }}{{ end -}}
{{- $nodes = $nodes | uniq | sortAlpha -}}
{{- if gt (len $nodes) 1 }}
{{- fail (printf "persistence.existingClaim: PersistentVolumeClaim %q is %s, not ReadWriteMany, so the cards' servers on nodes %s cannot all mount it; give it ReadWriteMany, or write persistence.type: pvc with accessModes [ReadWriteOnce] (a claim per card)" $v.persistence.existingClaim (join ", " (dig "spec" "accessModes" (list) $f.claim)) (join ", " $nodes)) }}
{{- end }}
{{- end }}
{{- /* The chart's own claim: checked only before it exists (its class cannot change after). */ -}}
{{- if and (eq $v.persistence.type "pvc") (not $f.claim) }}
{{- $classes := dict -}}
{{- $default := "" -}}
{{- range ($f.storageClasses.items | default list) }}
{{- $_ := set $classes .metadata.name . -}}
{{- if eq (dig "metadata" "annotations" "storageclass.kubernetes.io/is-default-class" "" .) "true" }}{{ $default = .metadata.name }}{{ end -}}
{{- end }}
{{- $known := keys $classes | sortAlpha | join ", " | default "none" -}}
{{- $name := $v.persistence.storageClass | default $default -}}
{{- if not $name }}
{{- fail (printf "persistence.storageClass: the cluster has no default StorageClass; set persistence.storageClass (the cluster has: %s)" $known) }}
{{- end }}
{{- if not (hasKey $classes $name) }}
{{- fail (printf "persistence.storageClass: StorageClass %q does not exist; set persistence.storageClass to one of: %s" $name $known) }}
{{- end }}
{{- $provisioner := (get $classes $name).provisioner -}}
{{- if and (has "ReadWriteMany" $v.persistence.accessModes) (has $provisioner (list "rancher.io/local-path" "openebs.io/local")) }}
{{- fail (printf "persistence.accessModes: StorageClass %q (%s) is node-local and cannot give ReadWriteMany, so the claim would never bind; set persistence.accessModes to [ReadWriteOnce] (on the command line: --set 'persistence.accessModes={ReadWriteOnce}')" $name $provisioner) }}
{{- end }}
{{- end }}
{{- range $f.sources }}
{{- if not .found }}
{{- if eq .key "gate.device.url" }}
{{- fail (printf "gate.device.url: Service %q does not exist in namespace %s, so the gate would be blind every night; install NVIDIA's dcgm-exporter (gpu-operator ships it, or its own chart) and point gate.device.url at its /metrics, or set gate.device.source \"\"" .name .namespace) }}
{{- else if eq $v.gate.source "prometheus" }}
{{- fail (printf "gate.metricsUrl: Service %q does not exist in namespace %s, so the gate would be blind every night; point gate.metricsUrl at your Prometheus, which must scrape a memory source (the per-pod gpu-pod-exporter, or NVIDIA's dcgm-exporter)" .name .namespace) }}
{{- else }}
{{- fail (printf "gate.metricsUrl: Service %q does not exist in namespace %s, so the gate would be blind every night; install a memory source (the per-pod gpu-pod-exporter, or NVIDIA's dcgm-exporter with gate.source=dcgm) and point gate.metricsUrl at its /metrics" .name .namespace) }}
{{- end }}
{{- end }}
{{- end }}
{{- with $f.server }}
{{- $owner := dig "metadata" "annotations" "meta.helm.sh/release-name" "" . -}}
{{- if and $owner (ne $owner $.root.Release.Name) }}
{{- if $.root.Card }}
{{- fail (printf "cards.%s: Deployment %q in namespace %s belongs to release %q; rename the card, or install this release under another name" $.root.Card.name $v.server.name $.root.Release.Namespace $owner) }}
{{- end }}
{{- fail (printf "server.name: Deployment %q in namespace %s belongs to release %q; set server.name to another name for this release" $v.server.name $.root.Release.Namespace $owner) }}
{{- end }}
{{- end }}
{{- end -}}
{{- end }}

{{/*
tts.uncheckedNotes: for NOTES.txt, what was not checked because the chart was rendered offline.
*/}}
{{- define "tts.uncheckedNotes" -}}
{{- $unchecked := list -}}
{{- with .Values.server.priorityClassName }}{{ if not $.Values.priorityClass.create }}{{ $unchecked = append $unchecked (printf "PriorityClass %s exists (server.priorityClassName)" .) }}{{ end }}{{ end -}}
{{- with .Values.server.runtimeClassName }}{{ $unchecked = append $unchecked (printf "RuntimeClass %s exists (server.runtimeClassName)" .) }}{{ end -}}
{{- if eq .Values.persistence.type "pvc" }}{{ $unchecked = append $unchecked (printf "StorageClass %s exists and can give %s (persistence.storageClass)" (.Values.persistence.storageClass | default "(the default)") (join ", " .Values.persistence.accessModes)) }}{{ end -}}
{{- if eq .Values.persistence.type "existingClaim" }}{{ $unchecked = append $unchecked (printf "PersistentVolumeClaim %s exists (persistence.existingClaim)" .Values.persistence.existingClaim) }}{{ end -}}
{{- range (include "tts.gateServers" . | fromJsonArray) }}{{ $unchecked = append $unchecked (printf "no other release owns deploy/%s (%s)" . (ternary "its card" "server.name" (not (empty $.Values.cards)))) }}{{ end -}}
{{- range (include "tts.perCard" (dict "root" . "template" "tts.uncheckedSources" "separator" "\n") | splitList "\n" | uniq) }}{{ $unchecked = append $unchecked . }}{{ end -}}
{{- range $unchecked }}
  - {{ . }}
{{- end }}
{{- end }}

{{/* tts.uncheckedSources: one card's source Services, one line each, for tts.uncheckedNotes. */}}
{{- define "tts.uncheckedSources" -}}
{{- $lines := list -}}
{{- range (include "tts.sourceServices" . | fromJsonArray) }}{{ $lines = append $lines (printf "Service %s exists in namespace %s (%s)" .name .namespace .key) }}{{ end -}}
{{- join "\n" $lines -}}
{{- end }}
