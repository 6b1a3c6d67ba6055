"""The offline commands over recorded nights: `replay` (the policy through a simulated night)
and `measure` (the server's real GPU memory, and the floor to set). Neither changes anything."""

from __future__ import annotations

from typing import Any

import typer

from gate import defaults, policy, report, scenario
from gate import settings as gate_settings
from gate.cli.command import echo_json, fail, given_settings, run_reporting_errors, warn_deprecated, with_settings
from gate.cli.options import (
    SETTING_PARAMS,
    ActionsOut,
    CardDevice,
    CardNode,
    Compare,
    Debug,
    DemandFile,
    Deployment,
    EmptyAnswer,
    End,
    ExporterLag,
    GuardSchedule,
    Headroom,
    MeasureFloor,
    MeasureSource,
    Output,
    PausedSpans,
    PlotFile,
    PolicyName,
    PrometheusUrl,
    PromNodeLabel,
    PromQuery,
    PromReplicasQuery,
    PromUpQuery,
    RealtimeFactor,
    ReentrySchedule,
    Release,
    ReplayControllerInterval,
    ReplayNamespace,
    ReplaySidecarInterval,
    Start,
    Step,
    Traces,
    TtsLoad,
    TtsPark,
    TtsPeak,
    TtsRelease,
    TtsResidue,
    TtsStart,
    TtsUnpark,
    WindowDownSchedule,
    WindowUpSchedule,
)
from gate.options import choice
from gate.policy import Settings
from gate.recorded import PrometheusRange, load_traces
from gate.scenario import PolicyChoice
from gate.sources import Card, Exporter, exporter
from gate.status import ExitStatus
from gate.units import InvalidValue, parse_floor, parse_size

# The settings `gate replay` replays, as the live commands take them (and --config).
REPLAYED = (
    "config",
    "source",
    "floor",
    "total",
    "window",
    "timezone_name",
    "cooldown",
    "cooldown_max",
    "hysteresis",
    "empty_is_idle",
    "device_source",
    "startup_grace",
    "own_peak",
    "entry_margin",
    "demand_idle_after",
    "enabled",
    "park",
    "park_residue",
    "park_max_parked",
    "park_timeout",
    "park_cooldown",
    "card_node",
    "card_device",
    "prometheus_node_label",
)


def replay(
    ctx: typer.Context,
    traces: Traces = None,
    policy_name: PolicyName = PolicyChoice.GATE.value,
    compare: Compare = False,
    actions_out: ActionsOut = None,
    plot: PlotFile = None,
    output: Output = "text",
    namespace: ReplayNamespace = "tts",
    deployment: Deployment = defaults.DEPLOYMENT,
    tts_peak: TtsPeak = defaults.TTS_PEAK,
    tts_start: TtsStart = defaults.TTS_START,
    tts_load: TtsLoad = defaults.TTS_LOAD,
    tts_release: TtsRelease = defaults.TTS_RELEASE,
    tts_residue: TtsResidue = defaults.TTS_RESIDUE,
    tts_park: TtsPark = defaults.TTS_PARK,
    tts_unpark: TtsUnpark = defaults.TTS_UNPARK,
    rtf: RealtimeFactor = defaults.REALTIME_FACTOR,
    sidecar_interval: ReplaySidecarInterval = None,
    controller_interval: ReplayControllerInterval = None,
    demand_file: DemandFile = None,
    exporter_lag: ExporterLag = defaults.EXPORTER_LAG,
    empty_answer: EmptyAnswer = None,
    paused: PausedSpans = None,
    window_up_schedule: WindowUpSchedule = None,
    reentry_schedule: ReentrySchedule = "",
    guard_schedule: GuardSchedule = None,
    window_down_schedule: WindowDownSchedule = None,
    prometheus: PrometheusUrl = None,
    start: Start = None,
    end: End = None,
    step: Step = "15s",
    prometheus_query: PromQuery = None,
    prometheus_up_query: PromUpQuery = None,
    debug: Debug = False,
    **given: Any,
) -> None:
    """Replay recorded nights through the real policy with a simulated TTS pod, and report what the
    gate would have done: utilization, breach and conflict seconds, entries and yields, parks
    (--park) and the narration made per night.

    Defaults are the chart's; --config gate.yaml (the chart's rendered settings) replays what the
    cluster runs. Changes nothing anywhere.
    """

    def body() -> None:
        output_format = choice(output, gate_settings.Format, "output format")
        chosen = [PolicyChoice.SEED, PolicyChoice.GATE] if compare else [choice(policy_name, PolicyChoice, "policy")]
        document = gate_settings.load(given["config"]) if given.get("config") else None
        names = {p: SETTING_PARAMS[p].key for p in REPLAYED if p in SETTING_PARAMS}
        flags = given_settings(
            ctx,
            {**names, "sidecar_interval": "sidecar.interval", "controller_interval": "controller.interval"},
            {**given, "sidecar_interval": sidecar_interval, "controller_interval": controller_interval},
        )
        model = scenario.Model(
            namespace,
            deployment,
            tts_peak,
            tts_start,
            tts_load,
            tts_release,
            demand_file,
            exporter_lag,
            empty_answer or [],
            paused or [],
            window_up_schedule,
            reentry_schedule,
            guard_schedule,
            window_down_schedule,
            tts_residue=tts_residue,
            tts_park=tts_park,
            tts_unpark=tts_unpark,
            realtime_factor=rtf,
        )
        replayed = scenario.build(flags, document, model)
        warn_deprecated(gate_settings.resolve(flags, document).values)
        parsed = replayed.parsed
        card = Card(parsed["card.node"], parsed["card.device"])
        prometheus_range = PrometheusRange(
            prometheus, start, end, step, prometheus_query, prometheus_up_query, node_label=parsed["prometheus.nodeLabel"]
        )
        loaded = load_traces(traces, prometheus_range, card, namespace, deployment)
        results = scenario.run(replayed, loaded, [p.value for p in chosen])
        if actions_out:
            scenario.write_actions(results, actions_out, compare)
        if plot:
            scenario.plot(results, plot)
        rows = [(r.trace.name, night) for r in results for night in r.nights]
        if output_format == "json":
            echo_json([{"trace": name, **night.to_json()} for name, night in rows])
        else:
            typer.echo(report.replay_table(rows))
            typer.echo(report.REPLAY_COLUMNS)

    run_reporting_errors(body, debug)


with_settings(replay, REPLAYED)


def measure(
    traces: Traces = None,
    namespace: ReplayNamespace = "tts",
    deployment: Deployment = defaults.DEPLOYMENT,
    headroom: Headroom = "2GiB",
    floor: MeasureFloor = gate_settings.BY_KEY["floor"].default,  # type: ignore[assignment]
    release: Release = "tts",
    output: Output = "text",
    source: MeasureSource = gate_settings.BY_KEY["source"].default,  # type: ignore[assignment]
    card_node: CardNode = None,
    card_device: CardDevice = None,
    prometheus: PrometheusUrl = None,
    start: Start = None,
    end: End = None,
    step: Step = "15s",
    prometheus_query: PromQuery = None,
    prometheus_up_query: PromUpQuery = None,
    prometheus_replicas_query: PromReplicasQuery = None,
    prometheus_node_label: PromNodeLabel = gate_settings.BY_KEY["prometheus.nodeLabel"].default,  # type: ignore[assignment]
    debug: Debug = False,
) -> None:
    """Measure the TTS server's GPU memory over a range in which it baked, print the observed peak
    beside the configured floor (the server's budget), and the floor to set (peak + headroom) as the
    exact `helm upgrade` line.

    With a per-pod source the peak is the server's pods' own; with dcgm or nvidia_gpu_exporter
    (no attribution) it is the card's rise over its baseline before each entry, over the spans in
    which the residents were known steady, and the line sets gate.ownPeak too."""

    def body() -> None:
        from gate.measure import NothingToMeasure, card_report_json, card_report_text, measure, measure_card, report_json, report_text

        output_format = choice(output, gate_settings.Format, "output format")
        settings = Settings(namespace=namespace, deployment=deployment, floor_bytes=parse_floor(floor, None))
        if traces and len(traces) > 1:
            raise InvalidValue(f"gate measure reads one trace, got {len(traces)}")
        card = card_of(card_node, card_device)
        found = exporter_named(source)
        warn_deprecated({"source": source})
        prometheus_range = PrometheusRange(
            prometheus,
            start,
            end,
            step,
            prometheus_query,
            prometheus_up_query,
            found.name,
            prometheus_replicas_query,
            prometheus_node_label,
        )
        [trace] = load_traces(traces, prometheus_range, card, namespace, deployment)
        # A device-level night (no pod named in it, or a --source that names none; or no pod of the
        # server's in it but the gate's record of its replicas) is measured by the card's rise; one
        # with the server's pods, by those.
        pods = [p for s in trace.snapshots for p in s.pods]
        recorded = any(s.replicas is not None for s in trace.snapshots)
        per_card = not found.per_pod or not any(p.pod for p in pods) or (recorded and not any(policy.is_own(p, settings) for p in pods))
        try:
            if per_card:
                measured = measure_card(trace, parse_size(headroom))
                if output_format == "json":
                    echo_json(card_report_json(measured, release, namespace, settings.floor_bytes))
                else:
                    typer.echo(card_report_text(measured, release, namespace, settings.floor_bytes))
                return
            result = measure(trace, settings, parse_size(headroom))
        except NothingToMeasure as exc:
            fail(str(exc), ExitStatus.NOTHING_TO_MEASURE)
        if output_format == "json":
            echo_json(report_json(result, release, namespace, settings.floor_bytes))
        else:
            typer.echo(report_text(result, release, namespace, settings.floor_bytes))

    run_reporting_errors(body, debug)


def card_of(node: str | None, device: str | None) -> Card:
    """--card-node and --card-device, each read by its settings row (gate/settings/table.py)."""
    written = {key: (value, gate_settings.Origin.FLAG) for key, value in (("card.node", node), ("card.device", device)) if value}
    meaning = {key: value for key, (value, _, _) in gate_settings.parse_values(written).values.items()}
    return Card(meaning.get("card.node"), meaning.get("card.device"))


def exporter_named(name: str) -> Exporter:
    try:
        return exporter(name)
    except ValueError as exc:
        raise InvalidValue(str(exc)) from exc
