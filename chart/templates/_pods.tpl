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
tts.placement: a pod's nodeSelector, tolerations and affinity, each when set; call with the values
that hold them (.Values.gate).
*/}}
{{- define "tts.placement" -}}
{{- range $field := list "nodeSelector" "tolerations" "affinity" }}
{{- with get $ $field }}
{{ $field }}:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
{{- end }}

{{/*
tts.gatePod: what every pod that runs only the gate shares (the controller, the CronJobs' pods,
the test pod): the gate's account with its token mounted (the ServiceAccount mounts none by
default: the server pod must not get one), pull secrets, placement (gate.nodeSelector,
gate.tolerations, gate.affinity), the pod security context and the volumes tts.gateContainer
mounts. The caller adds restartPolicy and containers.
*/}}
{{- define "tts.gatePod" -}}
serviceAccountName: {{ include "tts.gateServiceAccountName" . }}
automountServiceAccountToken: true
{{- with include "tts.imagePullSecrets" (dict "root" . "secrets" .Values.gate.imagePullSecrets) | trim }}
{{ . }}
{{- end }}
{{- include "tts.placement" .Values.gate }}
securityContext:
  {{- toYaml .Values.gate.podSecurityContext | nindent 2 }}
volumes:
  - name: tmp
    emptyDir:
      sizeLimit: 16Mi
  {{- include "tts.gateConfigVolume" . | nindent 2 }}
{{- end }}

{{/* tts.gateConfigVolume: the settings ConfigMap as a volume (mounted whole: subPath mounts never update). */}}
{{- define "tts.gateConfigVolume" -}}
- name: gate-config
  configMap:
    name: {{ include "tts.gateConfigName" . }}
{{- end }}

{{/*
tts.gateContainer: one gate container, as a list item; call with (dict "root" $ "args" (list "run")
["name" "check"] ["env" list] ["mounts" list] ["more" YAML]). Its environment says who the gate is
and where its settings are (the settings themselves are the mounted document,
templates/_settings.tpl, never variables, so changing one never changes a pod template), then
gate.extraEnv, then the container's own env. It mounts /tmp and the settings directory, then
mounts; `more` adds keys (ports, probes).
*/}}
{{- define "tts.gateContainer" -}}
{{- $root := .root -}}
- name: {{ .name | default "gate" }}
  image: {{ include "tts.gateImage" $root | quote }}
  imagePullPolicy: {{ $root.Values.gate.image.pullPolicy }}
  args:
    {{- toYaml .args | nindent 4 }}
  env:
    - name: GATE_NAMESPACE
      value: {{ $root.Release.Namespace | quote }}
    - name: GATE_DEPLOYMENT
      value: {{ include "tts.serverName" $root | quote }}
    - name: GATE_CONFIG
      value: {{ printf "%s/gate.yaml" (include "tts.gateConfigDir" $root) | quote }}
    {{- with $root.Values.gate.extraEnv }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
    {{- with .env }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  securityContext:
    {{- toYaml $root.Values.gate.containerSecurityContext | nindent 4 }}
  resources:
    {{- toYaml $root.Values.gate.resources | nindent 4 }}
  volumeMounts:
    - name: tmp
      mountPath: /tmp
    - name: gate-config
      mountPath: {{ include "tts.gateConfigDir" $root }}
      readOnly: true
    {{- with .mounts }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .more }}
  {{- . | nindent 2 }}
  {{- end }}
{{- end }}

{{/*
tts.gateLoopContainer: the gate's loop, the one definition of the controller's container (`gate
run`) and the server pod's sidecar (`gate guard --watch`); call with (dict "root" $ "args" (list
"run") "port" 9402 "portName" "metrics" "readiness" "/healthz" ["readinessPeriod" 10] ["mounts"
list] ["env" list]). It serves its metrics and /healthz on the port. /healthz answers 503 once the loop's last
completed iteration is older than max(3 x interval, 60s): a stuck loop is restarted even while the
metrics thread still answers (a /metrics probe would not see it). Readiness is the caller's: the
controller is Ready once it decides (/healthz), the sidecar stays Ready on /metrics (a stalled
loop must not take the server's endpoint away from its clients).
*/}}
{{- define "tts.gateLoopContainer" -}}
{{- $probes := dict "livenessProbe" (dict "httpGet" (dict "path" "/healthz" "port" .portName) "periodSeconds" 20 "timeoutSeconds" 5 "failureThreshold" 3) -}}
{{- $_ := set $probes "readinessProbe" (dict "httpGet" (dict "path" .readiness "port" .portName) "periodSeconds" (.readinessPeriod | default 10) "timeoutSeconds" 5) -}}
{{- $_ := set $probes "ports" (list (dict "name" .portName "containerPort" .port "protocol" "TCP")) -}}
{{- $env := concat (list (dict "name" "GATE_METRICS_PORT" "value" (toString .port))) (.env | default list) -}}
{{- include "tts.gateContainer" (dict "root" .root "args" .args "env" $env "mounts" .mounts "more" (toYaml $probes)) -}}
{{- end }}

{{/*
tts.gateControl: what a loop that parks needs of the server's control port (gate.park): its URL
(`url`: the server Service for the controller, 127.0.0.1 for the sidecar in the server pod) and
the token, the Secret <server.name>-control mounted read-only where the gate reads it
(files/gate-constants.json's controlTokenFile). Rendered whether or not gate.park.enabled: the
setting lives in gate.yaml, so turning parking on or off never changes a pod template. Call with
(dict "root" $ "url" "http://..."); returns {"env": [...], "mounts": [...]} as JSON.
*/}}
{{- define "tts.gateControl" -}}
{{- $file := (include "tts.gateConstants" .root | fromJson).controlTokenFile -}}
{{- $env := list (dict "name" "GATE_CONTROL_URL" "value" .url) (dict "name" "GATE_CONTROL_TOKEN_FILE" "value" $file) -}}
{{- $mounts := list (dict "name" "control-token" "mountPath" (dir $file) "readOnly" true) -}}
{{- dict "env" $env "mounts" $mounts | toJson -}}
{{- end }}

{{/*
tts.controlTokenVolume: the control port's token (the Secret), as a volume; call with (dict "root"
$ "mode" "0440"): the server pod reads it through its fsGroup (0440); the controller's pod has no
fsGroup and runs only the gate, so the file is 0444 there.
*/}}
{{- define "tts.controlTokenVolume" -}}
- name: control-token
  secret:
    secretName: {{ include "tts.serverControlSecretName" .root }}
    defaultMode: {{ .mode }}
    items:
      - key: token
        path: token
{{- end }}
