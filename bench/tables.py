"""The tables `make bench` prints and docs/design.md holds (`make bench-doc`), from the runs of
bench/replays.py, and the summary printed last (what to read)."""

from __future__ import annotations

from replays import (
    EXPORTER_MODES,
    MAX_BREACH_PER_WAKE,
    MAX_JOB_PODS_A_DAY,
    MIN_AVERAGE_RATIO,
    MIN_NIGHT_RATIO,
    DemandRow,
    ExporterRow,
    Row,
)

from gate.replay import NightSummary
from gate.units import format_duration


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
        seed = (f"{r.seed.utilization:.3f}", f"{r.seed.breach_seconds}s")
        controller = (f"{g.utilization:.3f}", f"{g.breach_seconds}s", f"{g.conflict_seconds}s", str(g.entries), str(g.job_pods))
        shapes = (f"{r.modes[m].utilization:.3f} / {r.modes[m].entries} / {r.modes[m].job_pods}" for m in ("cronjobs", "reentry"))
        reactive = (f"{r.reactive.utilization:.3f}", f"{r.ratio:.3f}")
        lines.append((r.name, *seed, *controller, *shapes, *reactive, str(g.wakes), str(g.outages)))
    return markdown(lines)


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
