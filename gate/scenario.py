"""What `gate replay` replays, built from its options: the settings (each value parsed once and
settled as the live commands' are, `settings.parse_values` and `settings.settle`), the chart's CronJobs, the
simulated pod and exporter, the queue; and what it writes beside its report (the actions, the
plot). The command line parses and prints; the simulation is gate/replay.py's."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from gate import defaults, policy
from gate import replay as sim
from gate import settings as gate_settings
from gate.cron import chart_schedules, parse_cron
from gate.policy import Settings
from gate.sources import ALIASES
from gate.trace import Trace
from gate.units import InvalidValue, Window, parse_duration, parse_size, parse_window


class PolicyChoice(StrEnum):
    """The policies a replay runs: this project's, the seed stack's, the plain baseline."""

    GATE = "gate"
    SEED = "seed"
    REACTIVE = "reactive"


assert tuple(PolicyChoice) == sim.POLICIES

# The loops' intervals, which the replay may switch off with 0 (the settings' are above zero).
INTERVALS = ("sidecar.interval", "controller.interval")


@dataclass(frozen=True)
class Model:
    """The replay's own options, as given: the simulated pod and exporter, the spans, the
    CronJobs' schedules (None: the chart's, from the window)."""

    namespace: str
    deployment: str
    tts_peak: str
    tts_start: str
    tts_load: str
    tts_release: str
    demand_file: Path | None
    exporter_lag: str
    empty_answer: list[str]
    paused: list[str]
    window_up_schedule: str | None
    reentry_schedule: str
    guard_schedule: str | None
    window_down_schedule: str | None
    tts_residue: str = defaults.TTS_RESIDUE
    tts_park: str = defaults.TTS_PARK
    tts_unpark: str = defaults.TTS_UNPARK
    realtime_factor: str = defaults.REALTIME_FACTOR


@dataclass(frozen=True)
class Scenario:
    """Everything but the trace: `config` makes one policy's ReplayConfig for a trace."""

    settings: Settings
    parsed: Mapping[str, Any]
    schedules: sim.Schedules
    pod: sim.PodModel
    queue: sim.DemandTrace | None
    empty_windows: list[Window]
    paused_windows: list[Window]
    exporter_lag_seconds: float
    realtime_factor: float = 1.0

    def config(self, policy_name: str, trace: Trace) -> sim.ReplayConfig:
        exporter = sim.ExporterModel(
            source=self.parsed["source"],
            label_lag_seconds=self.exporter_lag_seconds,
            empty_spans=sim.daily_spans(self.empty_windows, trace.start, trace.end),
            device=self.parsed["device.source"] is not None,
        )
        base = sim.ReplayConfig(
            policy_name,
            self.settings,
            self.schedules,
            self.pod,
            exporter,
            paused_spans=sim.daily_spans(self.paused_windows, trace.start, trace.end),
            timezone=self.parsed["timeZone"],
            realtime_factor=self.realtime_factor,
        )
        if self.queue is None:
            return base
        return sim.with_demand(base, self.queue, self.parsed["demand.idleAfter"], failure_every=0)


def build(given: Mapping[str, tuple[Any, gate_settings.Origin]], document: gate_settings.Document | None, model: Model) -> Scenario:
    """The scenario from the settings given (by key: a flag's or a variable's, with the
    intervals' 0 for off), the --config document and the replay's own options."""
    # 0 switches a loop off in the replay; the settings' intervals are always above zero.
    off = {key for key, (value, _) in given.items() if key in INTERVALS and parse_duration(value) == 0}
    kept = {k: v for k, v in given.items() if k not in off}
    # What the simulation can replay, before the settings' own rules (a device source beside
    # dcgm, the one device-level source it replays, is refused by `settle`).
    source = gate_settings.resolve(kept, document).values["source"]
    source = ALIASES.get(source, source)
    if source not in sim.EXPORTER_SOURCES:
        raise InvalidValue(f"invalid replayed source {source!r}: expected one of {', '.join(sim.EXPORTER_SOURCES)}")
    layers = [document.given] if document is not None else []
    path = document.path if document is not None else None
    parsed = gate_settings.settle(*layers, gate_settings.parse_values(kept), path=path, fetches=False).values
    if parsed["total"] is None:
        raise InvalidValue("gate replay needs the card's total: --total (total in --config), e.g. 15360MiB")
    settings = gate_settings.policy_settings(parsed, model.namespace, model.deployment)
    queue = None
    if model.demand_file is not None:
        try:
            queue = sim.parse_demand_csv(model.demand_file.read_text(), model.demand_file.name)
        except OSError as exc:
            raise InvalidValue(f"cannot read the queue trace {str(model.demand_file)!r}: {exc.strerror}") from exc
    tz = parsed["timeZone"]
    empty_windows = [parse_window(span, tz) for span in model.empty_answer]
    paused_windows = [parse_window(span, tz) for span in model.paused]
    # The chart's CronJobs: derived from the window as the chart derives them (window-up
    # suspended while enabled is false), unless given.
    derived = list(chart_schedules(settings.window))
    if policy.paused_by(None, settings):
        derived[0] = None
    given_schedules = (model.window_up_schedule, model.guard_schedule, model.window_down_schedule)
    up, guard, down = (flag if flag is not None else (schedule or "") for flag, schedule in zip(given_schedules, derived, strict=True))
    schedules = sim.Schedules(
        up or None,
        model.reentry_schedule or None,
        guard or None,
        down or None,
        None if "sidecar.interval" in off else parsed["sidecar.interval"],
        None if "controller.interval" in off else parsed["controller.interval"],
    )
    for schedule in filter(None, (up, model.reentry_schedule, guard, down)):
        parse_cron(schedule)
    pod = sim.PodModel(
        parse_size(model.tts_peak),
        parse_duration(model.tts_start),
        parse_duration(model.tts_load),
        parse_duration(model.tts_release),
        residue_bytes=parse_size(model.tts_residue),
        park_seconds=parse_duration(model.tts_park),
        unpark_seconds=parse_duration(model.tts_unpark),
    )
    lag, rtf = parse_duration(model.exporter_lag), parse_realtime_factor(model.realtime_factor)
    return Scenario(settings, parsed, schedules, pod, queue, empty_windows, paused_windows, lag, rtf)


def parse_realtime_factor(text: str) -> float:
    """--rtf: synthesis seconds per second of audio, above 0 and at most 100."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value <= 100:  # NaN fails too
        raise InvalidValue(f"invalid real-time factor {text!r}: expected synthesis seconds per second of audio above 0, e.g. 0.49")
    return value


def run(scenario: Scenario, traces: list[Trace], policies: list[str]) -> list[sim.ReplayResult]:
    """Each trace under each policy, in that order."""
    return [sim.replay(trace, scenario.config(name, trace)) for trace in traces for name in policies]


def write_actions(results: list[sim.ReplayResult], path: Path, compare: bool) -> None:
    """Every change of desired replicas as JSON lines (with its policy when compared)."""
    lines = [
        json.dumps(action.to_json() if not compare else {**action.to_json(), "policy": result.policy})
        for result in results
        for action in result.actions
    ]
    try:
        path.write_text("".join(line + "\n" for line in lines))
    except OSError as exc:
        raise InvalidValue(f"cannot write {str(path)!r}: {exc.strerror}") from exc


def plot(results: list[sim.ReplayResult], path: Path) -> None:
    """One night's trace drawn (matplotlib, imported only here)."""
    names = {r.trace.name for r in results}
    if len(names) > 1:
        raise InvalidValue("--plot draws one night's trace: give one trace file")
    from gate.plot import plot_night

    plot_night(results, path, ", ".join(sorted(names)))
