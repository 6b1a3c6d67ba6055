"""The offline commands over recorded nights: `replay` (the policy through a simulated night)
and `measure` (the server's real GPU memory, and the floor to set). Neither changes anything."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import typer

from gate import defaults, policy, report, scenario
from gate import settings as gate_settings
from gate.cli.command import echo_json, fail, given_settings, run_reporting_errors, warn_deprecated, with_groups, with_settings
from gate.cli.options import (
    PROMETHEUS_RANGE,
    SETTING_PARAMS,
    ActionsOut,
    CardDevice,
    CardNode,
    Compare,
    Debug,
    DemandFile,
    Deployment,
    EmptyAnswer,
    ExporterLag,
    Group,
    GuardSchedule,
    Headroom,
    MeasureFloor,
    MeasureSource,
    Output,
    PausedSpans,
    PlotFile,
    PolicyName,
    PromNodeLabel,
    PromReplicasQuery,
    RealtimeFactor,
    ReentrySchedule,
    Release,
    ReplayControllerInterval,
    ReplayNamespace,
    ReplaySidecarInterval,
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
from gate.trace import Trace
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


@dataclass(frozen=True)
class Simulated:
    """What `gate replay` simulates, as given: the pod, the exporter, the spans and the CronJobs
    (`scenario.Model`), and the loops' intervals (None: the settings')."""

    model: scenario.Model
    sidecar_interval: str | None
    controller_interval: str | None


def simulated(
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
    reentry_schedule: ReentrySchedule = "",  # none: the chart has had no re-entry CronJob since its first release
    guard_schedule: GuardSchedule = None,
    window_down_schedule: WindowDownSchedule = None,
) -> Simulated:
    """`gate replay`'s own options, in the order `--help` lists them."""
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
    return Simulated(model, sidecar_interval, controller_interval)


SIMULATED = Group(simulated)


@with_groups
def replay(
    ctx: typer.Context,
    traces: Traces = None,
    policy_name: PolicyName = PolicyChoice.GATE.value,
    compare: Compare = False,
    actions_out: ActionsOut = None,
    plot: PlotFile = None,
    output: Output = gate_settings.Format.TEXT.value,
    simulation: Simulated = SIMULATED,
    night_range: PrometheusRange = PROMETHEUS_RANGE,
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
        replayed = _scenario(ctx, simulation, given)
        parsed, model = replayed.parsed, simulation.model
        card = Card(parsed["card.node"], parsed["card.device"])
        prometheus = replace(night_range, node_label=parsed["prometheus.nodeLabel"])
        loaded = load_traces(traces, prometheus, card, model.namespace, model.deployment)
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


def _scenario(ctx: typer.Context, simulation: Simulated, given: dict[str, Any]) -> scenario.Scenario:
    """What the replay replays: the settings a flag or a variable gave (the loops' intervals
    among them) over --config's, and what it simulates; an old source name warned of once."""
    document = gate_settings.load(given["config"]) if given.get("config") else None
    names = {p: SETTING_PARAMS[p].key for p in REPLAYED if p in SETTING_PARAMS}
    flags = given_settings(
        ctx,
        {**names, "sidecar_interval": "sidecar.interval", "controller_interval": "controller.interval"},
        {**given, "sidecar_interval": simulation.sidecar_interval, "controller_interval": simulation.controller_interval},
    )
    replayed = scenario.build(flags, document, simulation.model)
    warn_deprecated(gate_settings.resolve(flags, document).values)
    return replayed


@with_groups
def measure(
    traces: Traces = None,
    namespace: ReplayNamespace = "tts",
    deployment: Deployment = defaults.DEPLOYMENT,
    headroom: Headroom = "2GiB",
    floor: MeasureFloor = gate_settings.BY_KEY["floor"].default,  # type: ignore[assignment]
    release: Release = "tts",
    output: Output = gate_settings.Format.TEXT.value,
    source: MeasureSource = gate_settings.BY_KEY["source"].default,  # type: ignore[assignment]
    card_node: CardNode = None,
    card_device: CardDevice = None,
    night_range: PrometheusRange = PROMETHEUS_RANGE,
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
        output_format = choice(output, gate_settings.Format, "output format")
        settings = Settings(namespace=namespace, deployment=deployment, floor_bytes=parse_floor(floor, None))
        if traces and len(traces) > 1:
            raise InvalidValue(f"gate measure reads one trace, got {len(traces)}")
        card = card_of(card_node, card_device)
        found = exporter_named(source)
        warn_deprecated({"source": source})
        prometheus = replace(night_range, source=found.name, replicas_query=prometheus_replicas_query, node_label=prometheus_node_label)
        [trace] = load_traces(traces, prometheus, card, namespace, deployment)
        _print_measured(trace, settings, headroom, found.per_pod and _names_the_server(trace, settings), release, output_format)

    run_reporting_errors(body, debug)


def _names_the_server(trace: Trace, settings: Settings) -> bool:
    """Whether a night read by a per-pod source is measured by the server's pods: not when it
    names no pod, nor when it names none of the server's but has the gate's record of its
    replicas (then it is measured by the card's rise, as a device-level night is)."""
    pods = [p for s in trace.snapshots for p in s.pods]
    recorded = any(s.replicas is not None for s in trace.snapshots)
    return any(p.pod for p in pods) and not (recorded and not any(policy.is_own(p, settings) for p in pods))


def _print_measured(trace: Trace, settings: Settings, headroom: str, by_pods: bool, release: str, output_format: str) -> None:
    """The night measured by the server's pods (`by_pods`) or by the card's rise, printed as asked."""
    from gate.measure import NothingToMeasure, card_report_json, card_report_text, measure, measure_card, report_json, report_text

    where = (release, settings.namespace, settings.floor_bytes)
    as_json = output_format == "json"
    try:
        if by_pods:
            measured = measure(trace, settings, parse_size(headroom))
            shown = report_json(measured, *where) if as_json else report_text(measured, *where)
        else:
            on_the_card = measure_card(trace, parse_size(headroom))
            shown = card_report_json(on_the_card, *where) if as_json else card_report_text(on_the_card, *where)
    except NothingToMeasure as exc:
        fail(str(exc), ExitStatus.NOTHING_TO_MEASURE)
    if as_json:
        echo_json(shown)
    else:
        typer.echo(shown)


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
