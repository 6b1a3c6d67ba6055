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

{{/*
tts.serverVolumes: the volumes of every pod that runs the server image's code (the server
Deployment's, the warm-up Job's): data (/data: the claim or the NFS export), config (the
server's ConfigMap), workdir and tmp (sized by the caller), and hf-token when
server.hfToken.existingSecret names one. Mounted by tts.serverVolumeMounts. Call with
(dict "root" $ "workdir" "2Gi" "tmp" "2Gi").
*/}}
{{- define "tts.serverVolumes" -}}
{{- $root := .root -}}
- name: data
  {{- if eq $root.Values.persistence.type "nfs" }}
  nfs:
    server: {{ required "persistence.nfs.server is required when persistence.type is nfs" $root.Values.persistence.nfs.server }}
    path: {{ $root.Values.persistence.nfs.path }}
  {{- else }}
  persistentVolumeClaim:
    claimName: {{ include "tts.claimName" $root }}
  {{- end }}
- name: config
  configMap:
    name: {{ include "tts.serverName" $root }}-config
- name: workdir
  emptyDir:
    sizeLimit: {{ .workdir }}
- name: tmp
  emptyDir:
    sizeLimit: {{ .tmp }}
{{- with $root.Values.server.hfToken.existingSecret }}
- name: hf-token
  secret:
    secretName: {{ . }}
    defaultMode: 0440
    items:
      - key: {{ $root.Values.server.hfToken.key }}
        path: token
{{- end }}
{{- end }}

{{/* tts.serverVolumeMounts: where the server image's code finds tts.serverVolumes. */}}
{{- define "tts.serverVolumeMounts" -}}
- name: data
  mountPath: /data
- name: config
  mountPath: /etc/chatterbox
  readOnly: true
# The server's working directory: config.yaml (rewritten by its settings UI), logs and outputs
# live here, so the root filesystem stays read-only.
- name: workdir
  mountPath: /var/lib/chatterbox
- name: tmp
  mountPath: /tmp
{{- if .Values.server.hfToken.existingSecret }}
- name: hf-token
  mountPath: /var/run/secrets/huggingface
  readOnly: true
{{- end }}
{{- end }}

{{/* tts.warmupJobName: <fullname>-warmup-<hash of its pod template>. */}}
{{- define "tts.warmupJobName" -}}
{{- printf "%s-warmup-%s" (include "tts.fullname" .) (include "tts.warmupPod" . | sha256sum | trunc 10) | trunc 63 -}}
{{- end }}

{{/*
tts.warmupPod: the warm-up Job's pod template (hashed into the Job's name). Where the server may
run (server.nodeSelector, tolerations, affinity): a node-local claim is bound where its first pod
lands. Without a choice of the operator's, a ReadWriteOnce claim (node-local storage) makes this
pod require a GPU node, or the server could never mount /data: GPU feature discovery
(gpu-operator, or the device plugin's gfd) labels those; without it the pod waits unscheduled and
harmless until its deadline.
*/}}
{{- define "tts.warmupPod" -}}
{{- $server := .Values.server -}}
{{- $affinity := $server.affinity -}}
{{- if and (not $affinity) (eq .Values.persistence.type "pvc") (not (has "ReadWriteMany" .Values.persistence.accessModes)) (not $server.nodeSelector) -}}
{{- $gpuNode := dict "key" "nvidia.com/gpu.present" "operator" "In" "values" (list "true") -}}
{{- $affinity = dict "nodeAffinity" (dict "requiredDuringSchedulingIgnoredDuringExecution" (dict "nodeSelectorTerms" (list (dict "matchExpressions" (list $gpuNode))))) -}}
{{- end -}}
metadata:
  labels:
    {{- include "tts.selectorLabels" (dict "root" . "component" "warmup") | nindent 4 }}
spec:
  restartPolicy: Never
  automountServiceAccountToken: false
  enableServiceLinks: false
  {{- /* No priorityClassName and no runtimeClassName: it must not preempt anything, nor get the NVIDIA runtime. */}}
  {{- with include "tts.imagePullSecrets" (dict "root" . "secrets" $server.imagePullSecrets) | trim }}
  {{- . | nindent 2 }}
  {{- end }}
  {{- if $server.podSecurityContext.enabled }}
  securityContext:
    {{- omit $server.podSecurityContext "enabled" | toYaml | nindent 4 }}
  {{- end }}
  containers:
    - name: warmup
      image: {{ include "tts.serverImage" . | quote }}
      imagePullPolicy: {{ $server.image.pullPolicy }}
      # Through the image's entrypoint: it copies the config into the working directory (where
      # the server's config module reads it) and hands a mounted token over as HF_TOKEN.
      args:
        - python3
        - -c
        - {{ .Files.Get "files/warmup.py" | quote }}
      env:
        - name: CHATTERBOX_CONFIG_FILE
          value: /etc/chatterbox/config.yaml
        - name: HF_HOME
          value: /data/hf_cache
        - name: HOME
          value: /tmp
        {{- if $server.hfToken.existingSecret }}
        - name: HF_TOKEN_PATH
          value: /var/run/secrets/huggingface/token
        {{- end }}
        {{- with $server.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
        # Last, so nothing above can undo them: no card for this pod, even where the NVIDIA
        # runtime is the nodes' default (the CUDA base image sets NVIDIA_VISIBLE_DEVICES=all).
        - name: NVIDIA_VISIBLE_DEVICES
          value: void
        - name: CUDA_VISIBLE_DEVICES
          value: ""
      {{- if $server.containerSecurityContext.enabled }}
      securityContext:
        {{- omit $server.containerSecurityContext "enabled" | toYaml | nindent 8 }}
      {{- end }}
      resources:
        {{- toYaml $server.warmup.resources | nindent 8 }}
      volumeMounts:
        {{- include "tts.serverVolumeMounts" . | nindent 8 }}
  volumes:
    {{- include "tts.serverVolumes" (dict "root" . "workdir" "256Mi" "tmp" "1Gi") | nindent 4 }}
  {{- with include "tts.placement" (dict "nodeSelector" $server.nodeSelector "tolerations" $server.tolerations "affinity" $affinity) | trim }}
  {{- . | nindent 2 }}
  {{- end }}
{{- end }}
