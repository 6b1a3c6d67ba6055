"""`make bench`: the sample nights under the seed's policy, this gate's, and a plain 15-second
reactive gate, with the chart's defaults; tables, then each target and whether it holds.

The gate replays in the chart's three shapes, side by side: `controller` (the default: `gate
run` every 10 s, the seed's three CronJobs and the sidecar), `cronjobs` (the seed's three alone)
and `reentry` (the first release: a re-entry CronJob every minute of the window, the three, and
the sidecar). Job pods are CronJob fires; all of the chart's fire inside the nights' traces, so
a night's count is the day's.

Targets for the default (from the issues that asked for the benchmark; issue 19 raised them
from 0.98, 0.88 and 45 s when the cool-down became adaptive):
- utilization >= 0.99 of the reactive gate's on average, and >= 0.95 of it on every night;
- breach <= 30 s per resident wake;
- at most 60 Job pods a day;
- no flapping: entries <= 1 + resident wakes + exporter outages. (The issue's bound has no
  outage term, but the gate must yield when it goes blind, and each outage then costs one
  re-entry: counting outages keeps the bound about flapping.)
- never worse than the seed: utilization, breach per wake met while holding the card (compared
  on nights the seed met one: a seed that evicted itself or left for the night meets none), and
  conflict. Where the seed keeps the card through an exporter outage it is blind, not better:
  those nights are reported, not held against the gate.

Warm standby (`gate replay --park`, issue 25): the same nights with parking on at the chart's
park.* defaults and the simulated server's assumed residue, park and unpark (gate/defaults.py).
Targets: on every night with a resident wake, parking bakes more than the plain gate; the server
is never parked outside the parked rule (total - residents >= residue + floor - peak) longer than
one interval and the release (15 s) per wake, the time the gate needs to see a resident outgrow it
and the memory to go; and its breach is never above the plain gate's.

Narration (issue 29): each night's bake in seconds of audio under each policy, at the real-time
factor upstream measured fresh on CUDA (0.49, gate/defaults.py), for the server as built and, for
the gate, as upstream left it (the hook leak's slowdown, gate/replay/ledger.py). Reported, not
targeted: the factor on a T4 is an assumption.

Every replay models the owner's exporter: the new server pod reads `unknown` for 75 s after
its container starts. A second table replays the same nights with the exporter's other faces
(targets from the issue that asked for them): dcgm alone, which attributes nothing, and
gpu-pod-exporter with dcgm beside it must not flap (entries <= 1 + wakes + outages) and keep
>= 0.85 of the reactive reference; with nvidia-smi failing 03:00-03:20 every night (HELP/TYPE
answers), the server holds the card at most one sidecar interval plus its release (15 s since
the release was measured at 5 s) into the fault. "no grace" is the first release's handling of the start-up, shown, not targeted.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dataclasses import replace  # noqa: E402

import parse_cost  # noqa: E402

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
from gate.units import format_duration, parse_duration, parse_timezone, parse_window  # noqa: E402

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


def summary(rows: list[Row], checks: list[tuple[str, bool]]) -> str:
    """What to read in all of the above, with the numbers that matter most, last on the screen."""
    average = sum(r.ratio for r in rows) / len(rows)
    lowest = min(rows, key=lambda r: r.ratio)
    breach = max(rows, key=lambda r: r.gate.breach_seconds / max(1, r.gate.wakes))
    pods = max(r.gate.job_pods for r in rows)
    failed = [text for text, ok in checks if not ok]
    lines = [
        "What to read:",
        "- The chart's shapes, column 'controller util': the default gate's bake time over the reactive ceiling's",
        f"  (the most a gate could bake); target >= {MIN_AVERAGE_RATIO} on average: {average:.3f};"
        f" >= {MIN_NIGHT_RATIO} every night: lowest {lowest.ratio:.3f} ({lowest.name}).",
        f"- Column 'breach': seconds the server held memory a waking resident needed; target <= {MAX_BREACH_PER_WAKE} s a wake:"
        f" worst {breach.gate.breach_seconds / max(1, breach.gate.wakes):.0f} s ({breach.name}).",
        f"- Column 'Job pods': the CronJobs' pods a day (etcd and disk churn); target <= {MAX_JOB_PODS_A_DAY}: at most {pods}.",
        "- The exporter's faces and Demand: the same gate with dcgm alone, a failing nvidia-smi, and tripit's queue.",
        "- The PASS/FAIL lines are each target on each night: "
        + (f"{len(failed)} failed, first: {failed[0]}" if failed else f"all {len(checks)} hold."),
    ]
    return "\n".join(lines)


def flappy_table(rows: list[Row]) -> str:
    """The flappy family: what the adaptive cool-down gives against the reactive reference, beside
    the fixed 2-minute one it replaced."""
    header = ("night", "wakes", "reactive util", "gate/reactive", "fixed 2m/reactive", "breach per wake", "entries", "bound")
    lines = [header]
    for r in rows:
        g = r.gate
        lines.append(
            (
                r.name,
                str(g.wakes),
                f"{r.reactive.utilization:.3f}",
                f"{r.ratio:.3f}",
                f"{r.ratio_of('fixed 2m'):.3f}",
                f"{g.breach_seconds / max(1, g.wakes):.0f}s",
                str(g.entries),
                str(1 + g.wakes + g.outages),
            )
        )
    flappy = [r for r in rows if r.name.startswith("flappy-")]
    if flappy:
        mean = sum(r.ratio for r in flappy) / len(flappy)
        before = sum(r.ratio_of("fixed 2m") for r in flappy) / len(flappy)
        lines.append(("mean", "", "", f"{mean:.3f}", f"{before:.3f}", "", "", ""))
    return markdown(lines)


def park_table(rows: list[Row]) -> str:
    """Parking beside the plain gate: what the reactive reference bakes, each gate's share of it,
    the parks, how long the server stayed parked and outside the parked rule, breach per wake."""
    header = (
        "night",
        "wakes",
        "plain/reactive",
        "park/reactive",
        "parks / unparks",
        "entries",
        "parked",
        "outside rule",
        "breach plain / park",
    )
    lines = [header]
    for r in rows:
        g, p = r.gate, r.modes["park"]
        lines.append(
            (
                r.name,
                str(g.wakes),
                f"{r.ratio:.3f}",
                f"{r.ratio_of('park'):.3f}",
                f"{p.parks} / {p.unparks}",
                str(p.entries),
                format_duration(p.parked_seconds),
                f"{p.parked_outside_rule_seconds}s",
                f"{g.breach_seconds}s / {p.breach_seconds}s",
            )
        )
    flappy = [r for r in rows if r.name.startswith("flappy-")]
    if flappy:
        plain = sum(r.ratio for r in flappy) / len(flappy)
        parked = sum(r.ratio_of("park") for r in flappy) / len(flappy)
        lines.append(("flappy mean", "", f"{plain:.3f}", f"{parked:.3f}", "", "", "", "", ""))
    return markdown(lines)


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


def park_tuning_table(rows: list[Row], tuning: dict[tuple[str, int], dict[str, NightSummary]]) -> str:
    """Each variant's bake against the reactive reference, on the nights with a wake."""
    header = ("night", "plain", "cooldown 0s", "default (cooldown 10s, maxParked 1h)", "maxParked 15m")
    lines, ratios = [header], []
    for index, r in enumerate(rows):
        variants = tuning.get((r.name, index))
        if variants is None:
            continue
        reactive = r.reactive.bake_seconds or 1
        values = [r.ratio, variants["cooldown 0s"].bake_seconds / reactive, r.ratio_of("park")]
        values.append(variants["maxParked 15m"].bake_seconds / reactive)
        ratios.append(values)
        lines.append((r.name, *(f"{v:.3f}" for v in values)))
    if ratios:
        lines.append(("mean", *(f"{sum(column) / len(ratios):.3f}" for column in zip(*ratios, strict=True))))
    return markdown(lines)


def narration_table(rows: list[Row]) -> str:
    """Seconds of audio each policy's bake made, the server fixed, and the gate's as upstream left it."""
    header = ("night", "seed", "gate", "gate --park", "reactive", "gate, unfixed", "gate --park, unfixed")
    lines = [header]
    for r in rows:
        g, p = r.gate, r.modes["park"]
        audio = [n.audio_seconds for n in (r.seed, g, p, r.reactive)] + [g.audio_seconds_unfixed, p.audio_seconds_unfixed]
        lines.append((r.name, *(format_duration(a) for a in audio)))
    return markdown(lines)


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


def exporter_table(rows: list[ExporterRow]) -> str:
    header = ("night", "reactive util", *(f"{mode} util / entries" for mode in EXPORTER_MODES), "held into the fault")
    lines = [header]
    for r in rows:
        cells = [f"{r.ratio(mode):.3f} / {r.modes[mode].entries}" for mode in EXPORTER_MODES]
        lines.append((r.name, f"{r.reactive.utilization:.3f}", *cells, f"{r.modes['smi fails'].held_empty_seconds}s"))
    return markdown(lines)


def markdown(lines: list[tuple[str, ...]]) -> str:
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    render = ["| " + " | ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)) + " |" for line in lines]
    render.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(render)


def table(rows: list[Row]) -> str:
    header = (
        "night",
        "seed util",
        "seed breach",
        "controller util",
        "breach",
        "confl",
        "entries",
        "Job pods",
        "cronjobs util / entries / pods",
        "reentry util / entries / pods",
        "reactive util",
        "controller/reactive",
        "wakes",
        "outages",
    )
    lines = [header]
    for r in rows:
        g = r.gate
        lines.append(
            (
                r.name,
                f"{r.seed.utilization:.3f}",
                f"{r.seed.breach_seconds}s",
                f"{g.utilization:.3f}",
                f"{g.breach_seconds}s",
                f"{g.conflict_seconds}s",
                str(g.entries),
                str(g.job_pods),
                *(f"{r.modes[m].utilization:.3f} / {r.modes[m].entries} / {r.modes[m].job_pods}" for m in ("cronjobs", "reentry")),
                f"{r.reactive.utilization:.3f}",
                f"{r.ratio:.3f}",
                str(g.wakes),
                str(g.outages),
            )
        )
    return markdown(lines)


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


def demand_table(rows: list[DemandRow]) -> str:
    header = ("night", "work seconds with room", "baked", "util", "held idle", "empty stretches", "bound", "entries", "reactive held idle")
    lines = [header]
    for r in rows:
        c = r.controller
        lines.append(
            (
                r.name,
                f"{c.oracle_seconds}",
                f"{c.bake_seconds}",
                f"{c.utilization:.3f}",
                f"{c.held_idle_seconds}s",
                str(c.empty_stretches),
                f"{r.idle_bound:.0f}s",
                str(c.entries),
                f"{r.reactive.held_idle_seconds}s",
            )
        )
    return markdown(lines)


# Give-back, measured once and printed, not asserted: SIGTERM to the server container's PID 1 (as
# the kubelet sends it) until the server process has exited and its memory is freed (the whole
# process tree gone; MemAvailable was ~4 GiB higher a second later each time).
# When and how: 2026-11-29, the pinned server (68213e75) on a CPU with randomly initialised
# weights, run in the image's layout by /work/shared/tools/server-on-cpu (pod.sh: read-only
# root, uid 10001) on a 2-core, 23 GiB VM shared with other work; SIGTERM 2 s after the load
# (idle) or 8 s after the first request (mid-synthesis of a 24-sentence, 2,414-character text;
# four one-sentence requests sent 0.3 s apart). Before: the entrypoint exec'd `python3
# /app/server.py` (uvicorn's graceful stop); after: it kills the server's process group.
GIVE_BACK_MEASURED = (
    ("idle", "0.44-0.51 s (2 runs)", "0.30-0.32 s (3 runs)"),
    ("mid-synthesis, 24 chunks", "> 900 s: went on to chunk 5 of 24, killed at 900 s", "0.30-0.34 s (3 runs)"),
    ("4 requests, 1 speaking", "18.2 s, 85.2 s: until the one speaking finished", "0.32-0.35 s (3 runs)"),
)


def give_back_table() -> str:
    return markdown([("SIGTERM to exit", "before (uvicorn's graceful stop)", "after (the entrypoint)"), *GIVE_BACK_MEASURED])


# docs/design.md holds the benchmark's tables between these markers: `make bench-doc` writes them
# from the same runs `make bench` prints, and a test fails when they differ.
DESIGN = Path(__file__).resolve().parent.parent / "docs" / "design.md"


def doc_tables(
    rows: list[Row] | None = None, exporter_rows: list[ExporterRow] | None = None, demand_rows: list[DemandRow] | None = None
) -> dict[str, str]:
    """The tables from the sample nights' runs (those given, already run: a test shares them)."""
    rows = run(NIGHTS) if rows is None else rows
    tuning = run_park_tuning(rows)
    return {
        "give-back": give_back_table(),
        "shapes": table(rows),
        "flappy": flappy_table([r for r in rows if r.name.startswith("flappy")]),
        "park": park_table(rows),
        "park-tuning": park_tuning_table(rows, tuning),
        "narration": narration_table(rows),
        "exporter": exporter_table(run_exporter_modes(NIGHTS) if exporter_rows is None else exporter_rows),
        "demand": demand_table(run_demand(DEMAND_NIGHTS) if demand_rows is None else demand_rows),
    }


def with_tables(text: str, tables: dict[str, str]) -> str:
    """`text` with each `<!-- bench:NAME -->...<!-- /bench:NAME -->` region holding its table."""
    for name, body in tables.items():
        start, end = f"<!-- bench:{name} -->\n", f"<!-- /bench:{name} -->"
        head, found, rest = text.partition(start)
        if not found:
            raise ValueError(f"{DESIGN.name} has no {start.strip()} marker")
        text = head + start + body + "\n" + rest[rest.index(end) :]
    return text


def main(argv: list[str]) -> int:
    if argv == ["--write-doc"]:
        DESIGN.write_text(with_tables(DESIGN.read_text(), doc_tables()))
        print(f">> {DESIGN.relative_to(DESIGN.parent.parent)}: the benchmark's tables rewritten")
        return 0
    print("Give-back, measured on 2026-11-29 (a CPU, random weights; bench/bench.py says how): the replay's")
    print("release (--tts-release 5s) and the pod's grace (5 s) come from the 'after' column.")
    print()
    print(give_back_table())
    print()
    paths = [Path(a) for a in argv] or NIGHTS
    rows = run(paths)
    print("The chart's shapes (utilization is baking over in-window seconds with room):")
    print()
    print(table(rows))
    print()
    flappy_rows = [r for r in rows if r.name.startswith("flappy")]
    if flappy_rows:
        print("Flappy nights: the adaptive cool-down (the default) and the fixed 2-minute one it replaced, vs reactive:")
        print()
        print(flappy_table(flappy_rows))
        print()
    print(f"Warm standby: gate replay --park beside the plain gate (park.* at the chart's defaults; residue {defaults.TTS_RESIDUE},")
    print(f"park {defaults.TTS_PARK}, unpark {defaults.TTS_UNPARK}, assumed):")
    print()
    print(park_table(rows))
    print()
    print("The park.* defaults beside their neighbours (bake vs reactive, nights with a wake):")
    print()
    print(park_tuning_table(rows, run_park_tuning(rows)))
    print()
    print(f"Narration made: audio per night at real-time factor {defaults.REALTIME_FACTOR} (upstream's CUDA figure), fixed and unfixed:")
    print()
    print(narration_table(rows))
    print()
    exporter_rows = run_exporter_modes(paths)
    print("The exporter's faces (utilization vs reactive / entries):")
    print()
    print(exporter_table(exporter_rows))
    print()
    demand_rows = run_demand(DEMAND_NIGHTS if not argv else [q for q in DEMAND_NIGHTS if q.name in {p.name for p in paths}])
    print("Demand: tripit's queue (27 narrations drain by 03:10, empty until 04:30, 12 more), the controller, a probe failing 1 in 20:")
    print()
    print(demand_table(demand_rows))
    print()
    parsed = parse_cost.rows()
    print("Parsing an exporter's answer at the size cap (CPU seconds here; under the chart's 200m limit, five times that):")
    print()
    print(parse_cost.table(parsed))
    print()
    import settings_read  # bench/settings_read.py: the settings files at their worst

    checks = (
        verdicts(rows)
        + park_verdicts(rows)
        + exporter_verdicts(exporter_rows)
        + demand_verdicts(demand_rows)
        + parse_cost.verdicts(parsed)
        + settings_read.report()
    )
    for text, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {text}")
    failed = sum(1 for _, ok in checks if not ok)
    print(f"\n{len(checks) - failed} passed, {failed} failed")
    print()
    print(summary(rows, checks))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
