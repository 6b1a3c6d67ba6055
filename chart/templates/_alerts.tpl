{{/*
The chart's alert rules: one `groups:` document, the single source for the PrometheusRule
(prometheusrule.yaml) and for a plain Prometheus' rule file (alert-rules-configmap.yaml, or pasted
into the prometheus chart's serverFiles). tests/test_alerts.py checks them with `promtool check
rules` and fires and resolves every alert with `promtool test rules` (tests/alerts_test.yaml).

Each alert reads series that exist in the case it is for: the gate's own metrics (the sidecar,
or a controller serving the same names) for what only the gate knows, kube-state-metrics for
whether the server is on the card, so an alert about a missing gate does not need the gate.
`for:` spans at least two 2-minute scrapes (docs/operating.md#alerts-and-their-runbooks).
*/}}

{{/* tts.metrics.matchers: PromQL matchers joined with commas, empty ones dropped; call with a list. */}}
{{- define "tts.metrics.matchers" -}}
{{- join "," (compact .) -}}
{{- end }}

{{/*
tts.metrics.gateJobs: a regex of the scheduled gate CronJobs' Job names, <CronJob>-<minute since
the epoch>: a card's (its context), or every card's (the release's).
*/}}
{{- define "tts.metrics.gateJobs" -}}
{{- printf "(%s)-[0-9]+" (include "tts.perCard" (dict "root" . "template" "tts.metrics.gateJobNames" "separator" "|")) -}}
{{- end }}

{{/* tts.metrics.gateJobNames: one card's scheduled CronJobs, joined by |. */}}
{{- define "tts.metrics.gateJobNames" -}}
{{- $names := list -}}
{{- range $job := list "window-up" "guard" "window-down" }}
{{- $names = append $names (include "tts.cronJobName" (dict "root" $ "job" $job)) }}
{{- end }}
{{- join "|" $names -}}
{{- end }}

{{/*
tts.metrics.alertLabels: severity, the gate's namespace and Deployment (the server it scales; not on
the cards' shared server alert), plus metrics.alerts.labels; (dict "root" $ "severity" "warning").
*/}}
{{- define "tts.metrics.alertLabels" -}}
severity: {{ .severity }}
namespace: {{ .root.Release.Namespace }}
{{- if or .root.Card (not .root.Values.cards) }}
deployment: {{ include "tts.serverName" .root }}
{{- end }}
{{- with .root.Values.metrics.alerts.labels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
tts.alertRuleEnd: what follows a rule's name and expression: its `for` (none: it fires at once), its
labels (tts.metrics.alertLabels) and its annotations; call with (dict "root" $ "for" "4m"
"severity" "warning" "summary" "..." "description" "..." "runbook" "..."). The texts go in as YAML
scalars: quote one that needs it.
*/}}
{{- define "tts.alertRuleEnd" -}}
{{- with .for -}}
for: {{ . }}
{{ end -}}
labels:
  {{- include "tts.metrics.alertLabels" (dict "root" .root "severity" .severity) | nindent 2 }}
annotations:
  summary: {{ .summary }}
  description: {{ .description }}
  runbook: {{ .runbook }}
{{- end }}

{{/*
tts.alertRules: the `groups:` document: one group per gate (tts.alertGroup; the one card's is
tts-gate, a card's tts-gate-<card>), each reading its own gate's series and its own server's, so no
alert sums several gates of a namespace (cards, or releases sharing it). With cards, the server
processes' alert is one group of its own (tts-server): it reads every server by instance.
*/}}
{{- define "tts.alertRules" -}}
groups:
{{- include "tts.perCard" (dict "root" . "template" "tts.alertGroup" "separator" "\n") }}
{{- if .Values.cards }}
  - name: tts-server
    rules:
      {{- include "tts.alertServerSlowing" . | nindent 6 }}
{{- end }}
{{- end }}

{{/*
tts.alertGroup: one gate's alerts; call with its card's context. Its gate's series carry the
Deployment it scales (`deployment`, gate/telemetry.py) and every alert carries that and the
namespace as labels, so two gates' alerts are never one to Alertmanager.
*/}}
{{- define "tts.alertGroup" -}}
{{- $m := .Values.metrics -}}
{{- /* Demand is on when the gate probes a queue (gate.demand.url); its idle-after is the gate's own. */ -}}
{{- $demand := .Values.gate.demand.url -}}
{{- $idleAfter := .Values.gate.demand.idleAfter | toString -}}
{{- if regexMatch "^[0-9]+$" $idleAfter }}{{ $idleAfter = printf "%ss" $idleAfter }}{{ end -}}
{{- $a := $m.alerts -}}
{{- $ns := .Release.Namespace -}}
{{- $gate := printf "namespace=%q,deployment=%q" $ns (include "tts.serverName" .) -}}
{{- $ksm := include "tts.metrics.matchers" (list $m.kubeStateMetricsSelector (printf "namespace=%q" $ns)) -}}
{{- $server := printf "%s,deployment=%q" $ksm (include "tts.serverName" .) -}}
{{- $cron := .Values.gate.cronJobs -}}
{{- $jobs := include "tts.metrics.gateJobs" . -}}
{{- /* The server is on the card, or about to be: desired or existing pods, from kube-state-metrics. */}}
{{- $holds := printf "(max(kube_deployment_spec_replicas{%s}) > 0 or max(kube_deployment_status_replicas{%s}) > 0)" $server $server -}}
{{- $deploy := printf "deploy/%s" (include "tts.serverName" .) -}}
{{- /* A try in force (gate try: the operator asked for the card now) holds it on purpose. The
gauge is its end, so a gate that went away stops vouching for it by then at the latest. */}}
{{- $trying := printf "max(gate_try_until_timestamp_seconds{%s}) > time()" $gate -}}
{{- /* The over-budget rule's numbers are the gate's (gate/policy.py, via files/gate-constants.json). */ -}}
{{- $constants := include "tts.gateConstants" . | fromJson }}
  - name: {{ ternary (printf "tts-gate-%s" (.Card | default dict).name) "tts-gate" (not (empty .Card)) }}
    rules:
      - alert: TTSGateBlind
        expr: max(gate_blind{ {{- $gate -}} }) == 1
        {{- include "tts.alertRuleEnd" (dict "root" . "for" (printf "%vm" $a.blindMinutes) "severity" "warning"
          "summary" (printf "The tts gate has been blind for %v minutes" $a.blindMinutes)
          "description" "Its last observations of the card could not be read or trusted, so it cannot tell whether residents need the memory."
          "runbook" (printf "Check the metrics source the gate reads (gate.metricsUrl; for gpu-pod-exporter, that nvidia-smi works on the node): kubectl -n %s logs %s -c gate" $ns $deploy | quote)) | nindent 8 }}
      - alert: TTSGateLoopStalled
        expr: time() - max(gate_last_run_timestamp_seconds{ {{- $gate -}} }) > {{ mul $a.loopStaleMinutes 60 }}
        {{- include "tts.alertRuleEnd" (dict "root" . "for" "4m" "severity" "warning"
          "summary" (printf "The tts gate loop has not completed a run for %v minutes" $a.loopStaleMinutes)
          "description" ("Its process still serves metrics but its last run finished {{ $value | humanizeDuration }} ago: it is stuck (a hung API call or metrics read)." | quote)
          "runbook" (printf "kubectl -n %s logs deploy/%s (the controller) or %s -c gate (the sidecar); restarting either restarts its loop (the gate's state is in the Lease %s)." $ns (include "tts.gateName" .) $deploy (include "tts.gateLeaseName" .) | quote)) | nindent 8 }}
      - alert: TTSHoldsGPUWithoutGate
        expr: |
          {{ $holds }}
            unless on() (time() - max(gate_last_run_timestamp_seconds{ {{- $gate -}} }) < {{ mul $a.loopStaleMinutes 60 }})
          {{- if $cron.guard.enabled }}
            unless on() (time() - max(kube_cronjob_status_last_successful_time{ {{- $ksm -}} ,cronjob={{ include "tts.cronJobName" (dict "root" . "job" "guard") | quote }}}) < 900)
          {{- end }}
        {{- include "tts.alertRuleEnd" (dict "root" . "for" "10m" "severity" "critical"
          "summary" "The TTS server holds the shared GPU while no gate is running"
          "description" (printf "The server has replicas, but no gate loop has reported a run for %v minutes%s: nothing will yield the card to a waking resident." $a.loopStaleMinutes (ternary " and the guard CronJob has not succeeded for 15 minutes" "" (not (empty $cron.guard.enabled))) | quote)
          "runbook" (printf "Scale the server down until the gate runs again: kubectl -n %s scale %s --replicas=0; then check the sidecar (kubectl -n %s logs %s -c gate) and whether the CronJobs are suspended." $ns $deploy $ns $deploy | quote)) | nindent 8 }}
      {{- if and .Values.gate.window $cron.windowUp.enabled $cron.windowDown.enabled }}
      - alert: TTSHoldsGPUOutsideWindow
        # Outside the window the window-up CronJob is the next to run: its next schedule time
        # comes first. No clock arithmetic in PromQL (which knows only UTC) meets DST; where
        # kube-state-metrics ignores spec.timeZone only the window's edges move, by the offset.
        expr: |
          {{ $holds }}
            and on() (
              min(kube_cronjob_next_schedule_time{ {{- $ksm -}} ,cronjob={{ include "tts.cronJobName" (dict "root" . "job" "window-up") | quote }}})
                < min(kube_cronjob_next_schedule_time{ {{- $ksm -}} ,cronjob={{ include "tts.cronJobName" (dict "root" . "job" "window-down") | quote }}})
            )
          {{- if $demand }}
            unless on() (max(gate_demand_queued{ {{- $gate -}} }) > 0)
          {{- end }}
            unless on() ({{ $trying }})
        {{- include "tts.alertRuleEnd" (dict "root" . "for" (printf "%vm" $a.outsideWindowMinutes) "severity" "critical"
          "summary" (printf "The TTS server holds the shared GPU outside its window (%v %v)" .Values.gate.window .Values.gate.timeZone)
          "description" (printf "The window closed but the server still has replicas%s, and no try (gate try) holds it: the window-down job failed or someone scaled it up." (ternary " and no queued work" "" (not (empty $demand))) | quote)
          "runbook" (printf "kubectl -n %s scale %s --replicas=0; then look at the window-down job: kubectl -n %s get jobs" $ns $deploy $ns | quote)) | nindent 8 }}
      {{- end }}
      - alert: TTSServerReplicasUnavailable
        expr: max(kube_deployment_spec_replicas{ {{- $server -}} }) > max(kube_deployment_status_replicas_available{ {{- $server -}} })
        {{- include "tts.alertRuleEnd" (dict "root" . "for" (printf "%vm" $a.unavailableMinutes) "severity" "warning"
          "summary" (printf "The TTS server has fewer available replicas than desired for %v minutes" $a.unavailableMinutes)
          "description" "The gate scaled it up but the pod is not available (unschedulable, pulling, loading the model, or failing its probes); it may hold GPU memory without serving."
          "runbook" (printf "kubectl -n %s describe %s; kubectl -n %s get events --sort-by=.lastTimestamp. A first start downloads the weights (up to the startup probe's 30 minutes)." $ns $deploy $ns | quote)) | nindent 8 }}
      {{- if $demand }}
      - alert: TTSHoldsGPUIdle
        # The queue read 0 throughout the gate's idle-after (a failed probe reads NaN and never
        # counts as empty), and the server still held the card the margin after that, no try
        # holding it (the gate's idle timer runs through a try: at its end the card goes back).
        expr: |
          {{ $holds }}
            and on() (max_over_time(max(gate_demand_queued{ {{- $gate -}} })[{{ $idleAfter }}:]) == 0)
            unless on() ({{ $trying }})
        {{- include "tts.alertRuleEnd" (dict "root" . "for" (printf "%vm" $m.demand.marginMinutes) "severity" "warning"
          "summary" (printf "The TTS server has held the GPU with an empty queue for %s and %v minutes more" $idleAfter $m.demand.marginMinutes)
          "description" (printf "The gate should have released the card %s after the queue emptied (gate.demand.idleAfter); it did not." $idleAfter | quote)
          "runbook" (printf "kubectl -n %s logs %s -c gate (what did it decide?); scale down by hand if it is stuck: kubectl -n %s scale %s --replicas=0" $ns $deploy $ns $deploy | quote)) | nindent 8 }}
      {{- end }}
      - alert: TTSFreeMemoryBelowFloor
        expr: |
          max(gate_free_bytes{ {{- $gate -}} }) < max(gate_floor_bytes{ {{- $gate -}} })
            and on() {{ $holds }}
        {{- include "tts.alertRuleEnd" (dict "root" . "for" (printf "%vm" $a.breachMinutes) "severity" "critical"
          "summary" "The card's free memory is below the floor while the TTS server holds it"
          "description" ("Residents leave the server {{ $value | humanize1024 }}B, less than the floor: the gate should have yielded. A resident may fail to allocate." | quote)
          "runbook" (printf "kubectl -n %s scale %s --replicas=0 frees the card now; then see why the gate did not yield: kubectl -n %s logs %s -c gate" $ns $deploy $ns $deploy | quote)) | nindent 8 }}
      - alert: TTSServerOverBudget
        # The count lives in the gate's Lease: it outlasts the server pod the yield removed and
        # stays until the window ends, so a 2-minute scrape cannot miss it.
        expr: max(gate_over_budget_yields{ {{- $gate -}} }) > 0
        {{- include "tts.alertRuleEnd" (dict "root" . "for" "4m" "severity" "warning"
          "summary" ("The TTS server outgrew its GPU budget: {{ $value }} over-budget yield(s) tonight" | quote)
          "description" (printf "After its start-up the server held more GPU memory than gate.floor (%v) less %v, the room the residents were promised, so the gate gave the card back (Event YieldOverBudget). After %v it stays off the card until the window ends." .Values.gate.floor $constants.overBudgetSlack $constants.overBudgetYields | quote)
          "runbook" (printf "Measure what it really uses and set the floor from it: gate measure --prometheus <url> --start <bake start> --end <bake end> prints the observed peak beside the floor and the helm upgrade line; kubectl -n %s get events --field-selector reason=YieldOverBudget" $ns | quote)) | nindent 8 }}
      - alert: TTSGateConfigRefused
        # The loops re-read gate.yaml when the ConfigMap changes; one that fails validation is not
        # applied and the last good settings stay, so the change the operator made is not in force.
        expr: min by (namespace, pod) (gate_config_valid{ {{- $gate -}} }) == 0
        {{- include "tts.alertRuleEnd" (dict "root" . "for" "4m" "severity" "warning"
          "summary" ("A tts gate refused its settings file: {{ $labels.pod }}" | quote)
          "description" ("The changed gate.yaml failed validation, so the gate runs on with its last good settings: the change is not in force." | quote)
          "runbook" (printf "kubectl -n %s get cm %s -o jsonpath='{.data.gate\\.yaml}' | gate check-config - (it names the key and what it expects)" $ns (include "tts.gateConfigName" .) | quote)) | nindent 8 }}
      {{- if not .Card }}
      {{- include "tts.alertServerSlowing" . | nindent 6 }}
      {{- end }}
      - alert: TTSGateParksFailing
        # The count lives in the gate's Lease (every mechanism's failures, until the window ends):
        # the controller serves it, so a failure whose scale to 0 took the sidecar with it shows.
        expr: max(gate_park_failures_tonight{ {{- $gate -}} }) >= {{ $a.parkFailures }}
        {{- include "tts.alertRuleEnd" (dict "root" . "for" "4m" "severity" "warning"
          "summary" ("Parking the TTS server keeps failing: {{ $value }} failed parks or unparks tonight" | quote)
          "description" ("Each failure (refused, failed, past gate.park.timeout, unreachable, a residue past gate.park.residue, a parked server that lost its state) scaled the server to 0 as a plain yield does, so the residents were served; but every return costs a pod start and a model load again." | quote)
          "runbook" (printf "kubectl -n %s get events --field-selector reason=YieldParkFailed (and YieldResidue) names each failure; the server's side: kubectl -n %s logs %s -c server | grep tts_layer. Turn parking off meanwhile: --set gate.park.enabled=false" $ns $ns $deploy | quote)) | nindent 8 }}
      - alert: TTSGateJobFailed
        # A Job is retried by nobody (backoffLimit 0): a failed pod is a failed run. Failed Jobs
        # are kept a day, so only those created within the hour alert.
        expr: |
          max by (namespace, job_name) (kube_job_status_failed{ {{- $ksm -}} ,job_name=~{{ $jobs | quote }}} > 0)
            and on (namespace, job_name) (time() - max by (namespace, job_name) (kube_job_created{ {{- $ksm -}} ,job_name=~{{ $jobs | quote }}}) < 3600)
        {{- include "tts.alertRuleEnd" (dict "root" . "severity" "warning"
          "summary" ("A tts gate job failed: {{ $labels.job_name }}" | quote)
          "description" ("Exit statuses: 3 blind, 4 API unavailable, 5 denied (RBAC), 6 not found, 7 rejected; docs/operating.md#exit-statuses lists them." | quote)
          "runbook" (printf "kubectl -n %s logs job/{{ $labels.job_name }}" $ns | quote)) | nindent 8 }}
{{- end }}

{{/*
tts.alertServerSlowing: the server processes' slowdown, from the server's own metrics (the
image's layer), per process (`instance`): they name no gate, so with cards it is one rule for every
server (group tts-server), not one per gate.
*/}}
{{- define "tts.alertServerSlowing" -}}
{{- $a := .Values.metrics.alerts -}}
{{- $ns := .Release.Namespace -}}
{{- $gate := printf "namespace=%q" $ns -}}
{{- $deploy := printf "deploy/%s" (include "tts.serverName" .) -}}
{{- $logs := printf "kubectl -n %s logs %s -c server" $ns $deploy -}}
{{- $restart := printf "kubectl -n %s rollout restart %s" $ns $deploy -}}
{{- if .Values.cards -}}
{{- $servers := printf "app.kubernetes.io/instance=%s,app.kubernetes.io/component=server" .Release.Name -}}
{{- $logs = printf "kubectl -n %s logs -l %s -c server --prefix (the pod at {{ $labels.instance }})" $ns $servers -}}
{{- $restart = printf "kubectl -n %s delete pod <the pod at {{ $labels.instance }}>" $ns -}}
{{- end -}}
- alert: TTSServerSlowing
  # The server's own metrics (the image's layer), per process: the real-time factor of the
  # last 30 minutes against the median of the process's first chunks. Only with at least a
  # minute of audio made in those 30 minutes, so a few short chunks decide nothing.
  expr: |
    (
      sum by (namespace, instance) (increase(tts_server_synthesis_seconds_sum{ {{- $gate -}} }[30m]))
        / sum by (namespace, instance) (increase(tts_server_audio_seconds_total{ {{- $gate -}} }[30m]))
    )
      / max by (namespace, instance) (tts_server_realtime_factor_baseline{ {{- $gate -}} }) > {{ $a.slowdownRatio }}
      and on (namespace, instance) sum by (namespace, instance) (increase(tts_server_audio_seconds_total{ {{- $gate -}} }[30m])) > 60
  {{- include "tts.alertRuleEnd" (dict "root" . "for" "10m" "severity" "warning"
    "summary" ("The TTS server has slowed down: {{ $value | humanize }} times its first chunks' real-time factor" | quote)
    "description" (printf "Over the last 30 minutes it took {{ $value | humanize }} times as long per second of audio as when the process started (bound %v): the night bakes that much less narration." $a.slowdownRatio | quote)
    "runbook" (printf "Check the hooks on the model and the host memory (tts_server_model_hooks, tts_server_host_memory_bytes) and tts_server_fix_applied; %s | grep tts_layer. A restart (%s) starts a fresh process." $logs $restart | quote)) | nindent 2 }}
{{- end }}
