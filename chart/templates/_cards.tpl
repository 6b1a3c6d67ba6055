{{/*
Several cards from one install. A card is (node, device); each gets its own server Deployment
pinned to its node (and to its GPU with dra.enabled), and its own gate: Lease, settings
ConfigMap, controller, CronJobs, sidecar, ServiceAccount, Role. The templates of those objects
are today's single-card ones, each wrapped in a define and rendered through tts.perCard, which
calls it once per card with that card's context: the release's context whose .Values are the
card's (server.* and gate.* with the card's name, node, device and gate overrides) and whose
.Card says which card it is. Each card's server also gets its NetworkPolicy (its control port
admits its own controller alone) and a control Service <fullname>-<card> (its controller parks
that server, not any card's). What clients and scrapes share stays one object rendered from the
release's context: the Service (server.name: clients keep one URL, and it routes only to servers
that are ready), the ServiceMonitor, the alert rules and the dashboard (one group, one choice per
gate).

With `cards: {}` (the default) the install is the one card of server.* and gate.*, rendered
under today's names; its context differs from the release's only in gate.card.node, read from
the server's pin (tts.pinnedNode) when not written, and in the pin added when gate.card.node is
written without one. Nothing Kubernetes does is done here: the scheduler places each pinned
pod, the Service's endpoints follow readiness.
*/}}

{{/* tts.cardNames: the cards' names as a JSON list, in name order; [""] for the one card of server.* and gate.*. */}}
{{- define "tts.cardNames" -}}
{{- if .Values.cards -}}
{{- keys .Values.cards | sortAlpha | toJson -}}
{{- else -}}
{{- list "" | toJson -}}
{{- end -}}
{{- end }}

{{/*
tts.pinnedNode: the one node the server pod is pinned to by name, "" for none: its
server.nodeSelector's kubernetes.io/hostname, or a required node affinity of one term whose
kubernetes.io/hostname expression is `In` one value. The node's name as `kubectl get nodes` shows
it (the label's value), which is what EndpointSlices' nodeName and the exporters write. A selector
that matches several nodes names no card. Call with the server's values.
*/}}
{{- define "tts.pinnedNode" -}}
{{- $node := dig "kubernetes.io/hostname" "" (.nodeSelector | default dict) | toString -}}
{{- if not $node -}}
{{- $terms := dig "nodeAffinity" "requiredDuringSchedulingIgnoredDuringExecution" "nodeSelectorTerms" (list) (.affinity | default dict) -}}
{{- if eq (len $terms) 1 -}}
{{- range (index $terms 0).matchExpressions | default list -}}
{{- if and (eq .key "kubernetes.io/hostname") (eq .operator "In") (eq (len (.values | default list)) 1) -}}
{{- $node = index .values 0 | toString -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $node -}}
{{- end }}

{{/* tts.claimPerCard: "true" when every card needs a /data claim of its own: cards on a ReadWriteOnce claim the chart makes (a node-local volume binds on one node). */}}
{{- define "tts.claimPerCard" -}}
{{- if and .Values.cards (eq .Values.persistence.type "pvc") (not (has "ReadWriteMany" .Values.persistence.accessModes)) -}}
true
{{- end -}}
{{- end }}

{{/*
tts.cardContext: fills `into` (a dict) with the context of card `name` ("" for the one card of
server.* and gate.*): the release's context, its values deep-copied and made the card's. Call with
(dict "root" $ "name" "node-a" "into" (dict)). A card <name> is named <fullname>-<name> (its server
Deployment; fullnameOverride for its gate's objects), pinned to its node by
kubernetes.io/hostname, and its gate.* is gate.* with the card's overrides (each value written
replaces one, false and "" included) and its node and device as gate.card.
*/}}
{{- define "tts.cardContext" -}}
{{- $root := .root -}}
{{- range $key, $value := $root }}{{ if ne $key "Values" }}{{ $_ := set $.into $key $value }}{{ end }}{{ end -}}
{{- $values := deepCopy $root.Values -}}
{{- $gate := $values.gate -}}
{{- $server := $values.server -}}
{{- if .name -}}
{{- $card := get $root.Values.cards .name -}}
{{- $base := include "tts.fullname" $root -}}
{{- $full := printf "%s-%s" $base .name -}}
{{- range $key, $value := ($card.gate | default dict) -}}
{{- if kindIs "map" $value -}}
{{- range $leaf, $leafValue := $value }}{{ $_ := set (get $gate $key) $leaf $leafValue }}{{ end -}}
{{- else -}}
{{- $_ := set $gate $key $value -}}
{{- end -}}
{{- end -}}
{{- $_ := set $gate "card" (dict "node" (toString $card.node) "device" (toString ($card.device | default ""))) -}}
{{- $_ := set $values "fullnameOverride" $full -}}
{{- $_ := set $server "name" $full -}}
{{- $_ := set $server "nodeSelector" (merge (dict "kubernetes.io/hostname" (toString $card.node)) ($server.nodeSelector | default dict)) -}}
{{- $claim := ternary "" (printf "%s-data" (include "tts.serverName" $root)) (eq (include "tts.claimPerCard" $root) "true") -}}
{{- $_ := set .into "Card" (dict "name" .name "node" (toString $card.node) "device" $gate.card.device "service" (include "tts.serverName" $root) "fullname" $base "sharedClaim" $claim) -}}
{{- else -}}
{{- $pinned := include "tts.pinnedNode" $server -}}
{{- if not $gate.card.node -}}
{{- $_ := set $gate.card "node" $pinned -}}
{{- else if not $pinned -}}
{{- $_ := set $server "nodeSelector" (merge (dict "kubernetes.io/hostname" $gate.card.node) ($server.nodeSelector | default dict)) -}}
{{- end -}}
{{- end -}}
{{- $_ := set .into "Values" $values -}}
{{- end }}

{{/*
tts.perCard: a per-card template (a define) rendered for every card; call with (dict "root" $
"template" "tts.serverDeployment" ["separator" "---"]). Given a card's context (one with .Card),
that card alone; otherwise each card in name order, the outputs that are not empty joined by the
separator (a YAML document's by default): without cards that is the one card's output exactly.
*/}}
{{- define "tts.perCard" -}}
{{- if .root.Card -}}
{{- include .template .root -}}
{{- else -}}
{{- $separator := .separator | default "\n---\n" -}}
{{- $outputs := list -}}
{{- range $name := include "tts.cardNames" .root | fromJsonArray -}}
{{- $context := dict -}}
{{- $_ := include "tts.cardContext" (dict "root" $.root "name" $name "into" $context) -}}
{{- $output := include $.template $context -}}
{{- if trim $output }}{{ $outputs = append $outputs $output }}{{ end -}}
{{- end -}}
{{- join $separator $outputs -}}
{{- end -}}
{{- end }}

{{/*
tts.perClaim: a template of the /data claim's (the claim, the warm-up Job) once per claim: per
card when each card has its own (tts.claimPerCard), else once, from the one card's context (a
single card: its node pin places the warm-up) or, with cards sharing one claim, the release's.
Call like tts.perCard.
*/}}
{{- define "tts.perClaim" -}}
{{- if or (not .root.Values.cards) (eq (include "tts.claimPerCard" .root) "true") -}}
{{- include "tts.perCard" . -}}
{{- else -}}
{{- include .template .root -}}
{{- end -}}
{{- end }}

{{/* tts.clientServiceName: the Service clients call (server.name), shared by every card's server. */}}
{{- define "tts.clientServiceName" -}}
{{- if .Card }}{{ .Card.service }}{{ else }}{{ include "tts.serverName" . }}{{ end -}}
{{- end }}

{{/*
tts.gateServers: the Deployments the release's gates scale, as a JSON list in card order: server.name
alone, or each card's <fullname>-<card>.
*/}}
{{- define "tts.gateServers" -}}
{{- $names := list -}}
{{- range $name := include "tts.cardNames" . | fromJsonArray -}}
{{- $names = append $names (ternary (printf "%s-%s" (include "tts.fullname" $) $name) (include "tts.serverName" $) (ne $name "")) -}}
{{- end -}}
{{- toJson $names -}}
{{- end }}

{{/*
tts.draClaimTemplateName: the ResourceClaimTemplate of the server's GPU, <server>-gpu (dra.enabled).
*/}}
{{- define "tts.draClaimTemplateName" -}}
{{- printf "%s-gpu" (include "tts.serverName" .) -}}
{{- end }}

{{/*
tts.draDeviceUUID: the card's device as the NVIDIA DRA driver's `uuid` attribute writes it (NVML's
"GPU-" and lower-case hex), "" for none.
*/}}
{{- define "tts.draDeviceUUID" -}}
{{- with toString .Values.gate.card.device -}}
{{- printf "GPU-%s" (lower (regexReplaceAll "^(?i)gpu-" . "")) -}}
{{- end -}}
{{- end }}

{{/*
tts.serverResources: the server container's resources. With dra.enabled the GPU is the pod's
ResourceClaim (claims: gpu), not nvidia.com/gpu, which the device plugin would hand out as any GPU
of the node.
*/}}
{{- define "tts.serverResources" -}}
{{- if .Values.dra.enabled -}}
{{- $resources := deepCopy .Values.server.resources -}}
{{- range $part := list "limits" "requests" -}}
{{- with get $resources $part }}{{ $_ := unset . "nvidia.com/gpu" }}{{ end -}}
{{- end -}}
{{- $_ := set $resources "claims" (list (dict "name" "gpu")) -}}
{{- toYaml $resources -}}
{{- else -}}
{{- toYaml .Values.server.resources -}}
{{- end -}}
{{- end }}

{{/*
tts.exporterServices: the Services the gate reads at their pod on the card's node (gate/locate.py):
with gate.card.node set, the memory sources scraped from an exporter (not Prometheus' API) whose
URL names a Service (tts.sourceServices). JSON {namespace: [service, ...]}; {} without a node.
*/}}
{{- define "tts.exporterServices" -}}
{{- $byNamespace := dict -}}
{{- if .Values.gate.card.node -}}
{{- $scraped := (include "tts.gateSettingsTable" . | fromJson).scrapedSources -}}
{{- range (include "tts.sourceServices" . | fromJsonArray) -}}
{{- if or (ne .key "gate.metricsUrl") (has $.Values.gate.source $scraped) -}}
{{- $_ := set $byNamespace .namespace (append (get $byNamespace .namespace | default list) .name | uniq | sortAlpha) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- toJson $byNamespace -}}
{{- end }}

{{/*
tts.cardChecks: what the cards cannot be, each refused in one line naming the value: names too
long for the objects made from them or that are the client Service's, two cards on one GPU, a node pinned twice, a GPU that
cannot be pinned (the device plugin hands out any GPU of a node: only dra.enabled pins one, by its
UUID), a cluster without DRA's API. Called from templates/validation/checks.yaml.
*/}}
{{- define "tts.cardChecks" -}}
{{- $v := .Values -}}
{{- $dra := $v.dra.enabled -}}
{{- if $dra }}
{{- if not (semverCompare ">=1.34.0-0" .Capabilities.KubeVersion.Version) }}
{{- fail (printf "dra.enabled: Kubernetes %s has no resource.k8s.io/v1 (DRA is GA from 1.34); write dra.enabled: false, or upgrade the cluster" .Capabilities.KubeVersion.Version) }}
{{- end }}
{{- end }}
{{- if $v.cards }}
{{- if or $v.gate.card.node $v.gate.card.device }}
{{- fail (printf "gate.card: node %q, device %q is the one card's; with cards each card is cards.<name>.node and .device; write gate.card.node: \"\" and gate.card.device: \"\"" (toString $v.gate.card.node) (toString $v.gate.card.device)) }}
{{- end }}
{{- with include "tts.pinnedNode" $v.server }}
{{- fail (printf "server.nodeSelector / server.affinity: they pin every card's server to node %s; with cards each card is pinned to its cards.<name>.node; remove kubernetes.io/hostname from them" .) }}
{{- end }}
{{- $base := include "tts.fullname" . -}}
{{- $seen := dict -}}
{{- range $name := keys $v.cards | sortAlpha }}
{{- $card := get $v.cards $name -}}
{{- $full := printf "%s-%s" $base $name -}}
{{- if hasSuffix "-gate" $name }}
{{- fail (printf "cards.%s: a card's name cannot end in -gate: its server Deployment %s would be card %s's gate controller; write another name" $name $full (trimSuffix "-gate" $name)) }}
{{- end }}
{{- if eq $full (include "tts.serverName" $) }}
{{- fail (printf "cards.%s: its server's control Service would be %s, the client Service (server.name); write another card name, or another server.name" $name $full) }}
{{- end }}
{{- if gt (len $full) 40 }}
{{- fail (printf "cards.%s: the card's objects are named %s (%d characters) and their CronJobs add -window-down: at most 40; write a shorter card name (or fullnameOverride)" $name $full (len $full)) }}
{{- end }}
{{- $device := toString ($card.device | default "") -}}
{{- $key := printf "%s/%s" (toString $card.node) (lower (regexReplaceAll "^(?i)gpu-" $device "")) -}}
{{- with get $seen $key }}
{{- fail (printf "cards.%s: node %s%s is card %s's already: two gates on one card would each count the other's server as a resident; give each card its own node or device" $name (toString $card.node) (ternary "" (printf ", device %s" $device) (empty $device)) .) }}
{{- end }}
{{- $_ := set $seen $key $name -}}
{{- end }}
{{- $nodes := dict -}}
{{- range $name := keys $v.cards | sortAlpha }}
{{- $card := get $v.cards $name -}}
{{- $node := toString $card.node -}}
{{- with get $nodes $node }}
{{- if not $dra }}
{{- fail (printf "cards.%s: node %s has card %s too, and without dra.enabled the device plugin gives each server any GPU of the node (time-slicing cannot pin one), so a gate could watch one GPU while its server runs on the other; write dra.enabled: true (the NVIDIA DRA driver), or one card per node" $name $node .) }}
{{- end }}
{{- range $both := list $name . }}
{{- if not (get $v.cards $both).device }}
{{- fail (printf "cards.%s.device: \"\" on node %s, which has another card: the claim could be given the other card's GPU, and its gate could not tell the node's GPUs apart; write the GPU's UUID (nvidia-smi -L)" $both $node) }}
{{- end }}
{{- end }}
{{- end }}
{{- $_ := set $nodes $node $name -}}
{{- end }}
{{- else }}
{{- $pinned := include "tts.pinnedNode" $v.server -}}
{{- if and $v.gate.card.node $pinned (ne (toString $v.gate.card.node) $pinned) }}
{{- fail (printf "gate.card.node: %q is not the node server.nodeSelector / server.affinity pins the server to (%s), so the gate would watch another card than its server's; write gate.card.node: %q, or \"\" (it is read from the pin)" (toString $v.gate.card.node) $pinned $pinned) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
tts.cardDeviceChecks: one card's device as the chart can pin it (call with the card's context):
without dra.enabled no device at all (the device plugin picks the node's GPU), with it a UUID (the
driver's devices are named gpu-<minor>, not by the index the exporters write).
*/}}
{{- define "tts.cardDeviceChecks" -}}
{{- $device := toString .Values.gate.card.device -}}
{{- $key := ternary (printf "cards.%s.device" (.Card | default dict).name) "gate.card.device" (not (empty .Card)) -}}
{{- if $device }}
{{- if not .Values.dra.enabled }}
{{- fail (printf "%s: %q cannot be pinned without DRA: the device plugin gives the server any GPU of the node (time-slicing shares a GPU, it does not choose one), so the gate could watch one GPU while the server runs on another; write dra.enabled: true (the NVIDIA DRA driver pins the GPU by UUID), or %s: \"\" on a node with one GPU" $key $device $key) }}
{{- end }}
{{- if regexMatch "^[0-9]+$" $device }}
{{- fail (printf "%s: %q is an index; the NVIDIA DRA driver pins a GPU by its UUID (its devices are named by minor number, not by the index exporters write); write the UUID nvidia-smi -L prints, e.g. GPU-6d5c0ac5-74d7-3130-46f1-e93ed57f469a" $key $device) }}
{{- end }}
{{- end }}
{{- end }}
