"""The sample nights replayed for `make bench`: each night under the seed's policy, the gate in the
chart's shapes and variants, and the reactive reference (`run`); the exporter's faces
(`run_exporter_modes`); tripit's queue (`run_demand`); and the targets each must meet (the
`*verdicts`: one line a target, and whether it holds). bench/bench.py says where the targets come from."""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gate import defaults  # noqa: E402
from gate.replay import (  # noqa: E402
    ExporterModel,
    NightSummary,
    ReplayConfig,
    daily_spans,
    default_config,
    parse_demand_csv,
    replay,
    with_demand,
    with_parking,
)
from gate.trace import Trace, load_csv  # noqa: E402
from gate.units import parse_duration, parse_timezone, parse_window  # noqa: E402

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
NIGHTS = sorted((SAMPLES / "nights").glob("*.csv"))
DEMAND_NIGHTS = sorted((SAMPLES / "demand").glob("*.csv"))
# The first release's re-entry CronJob: every minute of the window but the one window-up takes.
REENTRY_SCHEDULE = "1-59 2-5 * * *"
MAX_JOB_PODS_A_DAY = 60
MIN_AVERAGE_RATIO = 0.99
MIN_NIGHT_RATIO = 0.95
MAX_BREACH_PER_WAKE = 30


def cronjobs_only(config: ReplayConfig) -> ReplayConfig:
    return replace(config, schedules=replace(config.schedules, controller_interval_seconds=None, sidecar_interval_seconds=None))


def first_release(config: ReplayConfig) -> ReplayConfig:
    return replace(config, schedules=replace(config.schedules, controller_interval_seconds=None, reentry=REENTRY_SCHEDULE))


def fixed_cooldown(config: ReplayConfig) -> ReplayConfig:
    """The cool-down before it adapted: 2 minutes of room after every yield."""
    return replace(
        config, settings=replace(config.settings, cooldown_seconds=FIXED_COOLDOWN_SECONDS, cooldown_max_seconds=FIXED_COOLDOWN_SECONDS)
    )


FIXED_COOLDOWN_SECONDS = 120.0
MODES = {
    "controller": lambda config: config,
    "cronjobs": cronjobs_only,
    "reentry": first_release,
    "fixed 2m": fixed_cooldown,
    "park": with_parking,
}
# Parked outside the parked rule, per resident wake: the controller's interval (it sees the
# resident outgrow the rule) and the release (the residue goes with the pod).
PARKED_OUTSIDE_PER_WAKE = 10 + int(parse_duration(defaults.TTS_RELEASE))


@dataclass(frozen=True)
class Row:
    name: str
    seed: NightSummary
    modes: dict[str, NightSummary]
    reactive: NightSummary

    @property
    def gate(self) -> NightSummary:
        return self.modes["controller"]

    def ratio_of(self, mode: str) -> float:
        night = self.modes[mode]
        return night.bake_seconds / self.reactive.bake_seconds if self.reactive.bake_seconds else 1.0

    @property
    def ratio(self) -> float:
        return self.ratio_of("controller")


def breach_per_held_wake(night: NightSummary) -> float:
    """Breach seconds per wake the policy met holding the card (each ends in a no-room yield)."""
    return night.breach_seconds / max(1, night.yields)


def run(paths: list[Path]) -> list[Row]:
    rows = []
    for path in paths:
        trace = load_csv(path)
        seed = replay(trace, default_config("seed")).nights
        reactive = replay(trace, default_config("reactive")).nights
        modes = {mode: replay(trace, make(default_config("gate"))).nights for mode, make in MODES.items()}
        for index, night in enumerate(reactive):
            rows.append(Row(path.stem, seed[index], {mode: nights[index] for mode, nights in modes.items()}, night))
    return rows


def verdicts(rows: list[Row]) -> list[tuple[str, bool]]:
    average = sum(r.ratio for r in rows) / len(rows)
    checks = [(f"average utilization vs reactive {average:.3f} >= {MIN_AVERAGE_RATIO}", average >= MIN_AVERAGE_RATIO)]
    for r in rows:
        g, s = r.gate, r.seed
        checks.append((f"{r.name}: utilization vs reactive {r.ratio:.3f} >= {MIN_NIGHT_RATIO}", r.ratio >= MIN_NIGHT_RATIO))
        checks.append((f"{r.name}: {g.job_pods} Job pods <= {MAX_JOB_PODS_A_DAY}", g.job_pods <= MAX_JOB_PODS_A_DAY))
        wakes = max(1, g.wakes)
        checks.append(
            (
                f"{r.name}: breach {g.breach_seconds}s <= {MAX_BREACH_PER_WAKE}s x {wakes} wake(s)",
                g.breach_seconds <= MAX_BREACH_PER_WAKE * wakes,
            )
        )
        bound = 1 + g.wakes + g.outages
        checks.append((f"{r.name}: entries {g.entries} <= 1 + {g.wakes} wake(s) + {g.outages} outage(s)", g.entries <= bound))
        if g.outages == 0:
            checks.append((f"{r.name}: utilization {g.utilization:.3f} >= seed's {s.utilization:.3f}", g.utilization >= s.utilization))
        if s.breach_seconds:  # the seed met a wake holding the card: compare how fast each let go
            b_gate, b_seed = breach_per_held_wake(g), breach_per_held_wake(s)
            checks.append((f"{r.name}: breach per held wake {b_gate:.0f}s <= seed's {b_seed:.0f}s", b_gate <= b_seed))
        checks.append(
            (
                f"{r.name}: conflict {g.conflict_seconds}s <= seed's {s.conflict_seconds}s",
                g.conflict_seconds <= s.conflict_seconds,
            )
        )
    return checks


def park_verdicts(rows: list[Row]) -> list[tuple[str, bool]]:
    checks = []
    for r in rows:
        g, p = r.gate, r.modes["park"]
        if g.wakes:
            checks.append(
                (f"{r.name}, --park: baked {p.bake_seconds}s > the plain gate's {g.bake_seconds}s", p.bake_seconds > g.bake_seconds)
            )
        bound = PARKED_OUTSIDE_PER_WAKE * max(1, g.wakes)
        checks.append(
            (
                f"{r.name}, --park: parked outside the rule {p.parked_outside_rule_seconds}s <= {PARKED_OUTSIDE_PER_WAKE}s x "
                f"{max(1, g.wakes)} wake(s)",
                p.parked_outside_rule_seconds <= bound,
            )
        )
        checks.append(
            (f"{r.name}, --park: breach {p.breach_seconds}s <= the plain gate's {g.breach_seconds}s", p.breach_seconds <= g.breach_seconds)
        )
    return checks


def park_variant(cooldown: str | None = None, max_parked: str | None = None):
    def make(config: ReplayConfig) -> ReplayConfig:
        parked = with_parking(config)
        park = parked.settings.park
        assert park is not None
        if cooldown is not None:
            park = replace(park, cooldown_seconds=parse_duration(cooldown))
        if max_parked is not None:
            park = replace(park, max_parked_seconds=parse_duration(max_parked))
        return replace(parked, settings=replace(parked.settings, park=park))

    return make


# The park.* defaults against their neighbours (docs/design.md, Warm standby): no cool-down before
# an unpark beside the default 10 s, and park.maxParked at 15 minutes beside 1 h.
PARK_TUNING = {"cooldown 0s": park_variant(cooldown="0s"), "maxParked 15m": park_variant(max_parked="15m")}


def run_park_tuning(rows: list[Row]) -> dict[tuple[str, int], dict[str, NightSummary]]:
    """The tuning's variants on the nights of `rows` with a resident wake: (night, index) -> variant -> summary."""
    results: dict[tuple[str, int], dict[str, NightSummary]] = {}
    by_name: dict[str, list[int]] = {}
    for index, r in enumerate(rows):
        if r.gate.wakes:
            by_name.setdefault(r.name, []).append(index)
    for name, indices in by_name.items():
        trace = load_csv(SAMPLES / "nights" / f"{name}.csv")
        variants = {variant: replay(trace, make(default_config("gate"))).nights for variant, make in PARK_TUNING.items()}
        for position, index in enumerate(indices):
            results[(name, index)] = {variant: nights[position] for variant, nights in variants.items()}
    return results


FAULT_SPAN = parse_window("03:00-03:20", parse_timezone("Europe/London"))
# A yield reaches the sidecar within one interval; the pod's memory is freed a release later.
EMPTY_HOLD_LIMIT_SECONDS = 10 + int(parse_duration(defaults.TTS_RELEASE))


def no_grace(config: ReplayConfig, trace: Trace) -> ReplayConfig:
    return replace(config, settings=replace(config.settings, startup_grace_seconds=0))


def dcgm_alone(config: ReplayConfig, trace: Trace) -> ReplayConfig:
    return replace(config, exporter=ExporterModel(source="dcgm"))


def with_device(config: ReplayConfig, trace: Trace) -> ReplayConfig:
    return replace(config, exporter=replace(config.exporter, device=True))


def nvidia_smi_fails(config: ReplayConfig, trace: Trace) -> ReplayConfig:
    return replace(config, exporter=replace(config.exporter, empty_spans=daily_spans([FAULT_SPAN], trace.start, trace.end)))


EXPORTER_MODES = {"no grace": no_grace, "dcgm alone": dcgm_alone, "pod + dcgm": with_device, "smi fails": nvidia_smi_fails}


@dataclass(frozen=True)
class ExporterRow:
    name: str
    reactive: NightSummary
    modes: dict[str, NightSummary]

    def ratio(self, mode: str) -> float:
        night = self.modes[mode]
        return night.bake_seconds / self.reactive.bake_seconds if self.reactive.bake_seconds else 1.0


def run_exporter_modes(paths: list[Path]) -> list[ExporterRow]:
    rows = []
    for path in paths:
        trace = load_csv(path)
        reactive = replay(trace, default_config("reactive")).nights
        by_mode = {mode: replay(trace, make(default_config("gate"), trace)).nights for mode, make in EXPORTER_MODES.items()}
        for index, night in enumerate(reactive):
            rows.append(ExporterRow(path.stem, night, {mode: nights[index] for mode, nights in by_mode.items()}))
    return rows


def exporter_verdicts(rows: list[ExporterRow]) -> list[tuple[str, bool]]:
    checks = []
    for r in rows:
        for mode in ("dcgm alone", "pod + dcgm"):
            n = r.modes[mode]
            checks.append((f"{r.name}, {mode}: utilization vs reactive {r.ratio(mode):.3f} >= 0.85", r.ratio(mode) >= 0.85))
            bound = 1 + n.wakes + n.outages
            checks.append((f"{r.name}, {mode}: entries {n.entries} <= 1 + {n.wakes} wake(s) + {n.outages} outage(s)", n.entries <= bound))
        held = r.modes["smi fails"].held_empty_seconds
        checks.append(
            (f"{r.name}, smi fails: held {held}s into the fault <= {EMPTY_HOLD_LIMIT_SECONDS}s", held <= EMPTY_HOLD_LIMIT_SECONDS)
        )
    return checks


@dataclass(frozen=True)
class DemandRow:
    name: str
    controller: NightSummary
    reactive: NightSummary
    idle_after_seconds: float
    interval_seconds: float

    @property
    def idle_bound(self) -> float:
        """What the gate may hold with nothing queued: idle-after plus one interval per empty stretch."""
        return self.controller.empty_stretches * (self.idle_after_seconds + self.interval_seconds)


def whole_trace(nights: list[NightSummary]) -> NightSummary:
    """The nights of one trace added up: a queue that fills before the window starts belongs to
    the night before it by the window's reckoning, but to the same bake."""
    total = NightSummary(nights[0].night, nights[0].policy)
    for night in nights:
        for name, value in vars(night).items():
            if isinstance(value, int):
                setattr(total, name, getattr(total, name) + value)
    return total


def run_demand(paths: list[Path]) -> list[DemandRow]:
    rows = []
    for path in paths:
        trace = load_csv(SAMPLES / "nights" / path.name)
        queue = parse_demand_csv(path.read_text(), path.name)
        config = with_demand(default_config("gate"), queue)
        controller = whole_trace(replay(trace, config).nights)
        reactive = whole_trace(replay(trace, with_demand(default_config("reactive"), queue, failure_every=0)).nights)
        assert config.settings.demand is not None and config.schedules.controller_interval_seconds is not None
        rows.append(
            DemandRow(
                path.stem, controller, reactive, config.settings.demand.idle_after_seconds, config.schedules.controller_interval_seconds
            )
        )
    return rows


def demand_verdicts(rows: list[DemandRow]) -> list[tuple[str, bool]]:
    checks = []
    for r in rows:
        c = r.controller
        checks.append(
            (
                f"{r.name}, demand: held {c.held_idle_seconds}s with nothing queued <= {c.empty_stretches} stretch(es) x "
                f"(idle-after + one interval) = {r.idle_bound:.0f}s",
                c.held_idle_seconds <= r.idle_bound,
            )
        )
        ratio = c.bake_seconds / r.reactive.bake_seconds if r.reactive.bake_seconds else 1.0
        checks.append((f"{r.name}, demand: baked {ratio:.3f} of the reactive gate's work seconds >= 0.88", ratio >= 0.88))
    return checks
