"""`gate measure`: the TTS pod's real GPU memory over a range, and the floor to set from it.

The seed says "YOU MUST MEASURE THIS"; this is that measurement. With a per-pod source, usage is
the Deployment's own pods per scrape (their processes summed); with a device-level one (dcgm,
nvidia_gpu_exporter), the card's rise over its baseline while the server held it, over the
spans in which the residents were known steady (below). From a trace or from Prometheus.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from gate import policy
from gate.trace import Snapshot, Trace
from gate.units import format_instant, format_size

MIB = 2**20


@dataclass(frozen=True)
class Measurement:
    samples: int
    held_samples: int
    step_seconds: float
    peak_bytes: int
    p99_bytes: int
    headroom_bytes: int

    @property
    def held_seconds(self) -> float:
        return self.held_samples * self.step_seconds

    @property
    def floor_bytes(self) -> int:
        """Peak plus headroom, rounded up to a whole MiB."""
        return math.ceil((self.peak_bytes + self.headroom_bytes) / MIB) * MIB

    @property
    def floor_text(self) -> str:
        return f"{self.floor_bytes // MIB}MiB"


class NothingToMeasure(Exception):
    """No sample of the range shows the TTS pod holding GPU memory."""


def measure(trace: Trace, settings: policy.Settings, headroom_bytes: int) -> Measurement:
    usage = [sum(p.used_bytes for p in s.pods if policy.is_own(p, settings)) for s in trace.snapshots]
    held = sorted(u for u in usage if u > 0)
    if not held:
        raise NothingToMeasure(
            f"no GPU memory of {settings.namespace}/{settings.deployment} in {len(usage)} samples from "
            f"{trace.start:%Y-%m-%d %H:%M} to {trace.end:%Y-%m-%d %H:%M} UTC: measure a range in which it baked"
        )
    # Nearest-rank percentile: a value that was really observed.
    p99 = held[max(0, math.ceil(0.99 * len(held)) - 1)]
    return Measurement(len(usage), len(held), trace.step_seconds, held[-1], p99, headroom_bytes)


def helm_line(measurement: Measurement, release: str, namespace: str) -> str:
    """Your values file, then the floor: `--reuse-values` would also keep the previous chart's defaults."""
    return f"helm upgrade {release} ./chart -n {namespace} -f my-values.yaml --set gate.floor={measurement.floor_text}"


def report_json(measurement: Measurement, release: str, namespace: str, floor_bytes: int) -> dict[str, Any]:
    """`gate measure --output json`: the measurement, the configured floor and its budget, the line to run."""
    m = measurement
    budget = policy.budget_bytes(floor_bytes)
    return {
        **m.__dict__,
        "held_seconds": m.held_seconds,
        "floor_bytes": m.floor_bytes,
        "floor": m.floor_text,
        "configured_floor_bytes": floor_bytes,
        "budget_bytes": budget,
        "over_budget": m.peak_bytes > budget,
        "helm": helm_line(m, release, namespace),
    }


def budget_text(measurement: Measurement, floor_bytes: int) -> str:
    """The observed peak against the configured floor: the budget the guard holds the server to."""
    budget = policy.budget_bytes(floor_bytes)
    peak = measurement.peak_bytes
    if peak > budget:
        return (
            f"OVER BUDGET: the peak is {format_size(peak - budget)} above the floor less {format_size(policy.OVER_BUDGET_SLACK_BYTES)}; "
            "the guard yields over-budget at this size: raise the floor"
        )
    return f"within budget: {format_size(budget - peak)} under the floor less {format_size(policy.OVER_BUDGET_SLACK_BYTES)}"


def report_text(measurement: Measurement, release: str, namespace: str, floor_bytes: int | None = None) -> str:
    m = measurement
    configured = (
        [f"floor now       {format_size(floor_bytes)} ({floor_bytes // MIB} MiB): {budget_text(m, floor_bytes)}"] if floor_bytes else []
    )
    return "\n".join(
        [
            f"samples         {m.samples} ({m.held_samples} with the TTS pod holding memory, every {m.step_seconds:g}s)",
            f"held            {m.held_seconds / 60:.1f} minutes",
            f"peak            {format_size(m.peak_bytes)} ({m.peak_bytes // MIB} MiB)",
            *configured,
            f"p99             {format_size(m.p99_bytes)} ({m.p99_bytes // MIB} MiB)",
            f"headroom        {format_size(m.headroom_bytes)}",
            f"floor to set    {m.floor_text} (peak + headroom)",
            "",
            f"keep gate.floor: {m.floor_text} in your values file (my-values.yaml here); until then:",
            helm_line(m, release, namespace),
        ]
    )


# -- per-card sources: the card's rise over its baseline -------------------------------------------
#
# dcgm-exporter and nvidia_gpu_exporter put no memory on a pod, so the server's own use is what
# the card gained over its baseline just before the server took it. That holds only where the
# residents' side stood still, and this is how a span is known to have (each is checked):
# - a settled reading before the entry: the card flat (within TOLERANCE) for SETTLE before it;
# - the gate's own record (`replicas`, `gate_replicas`) says when the server held the card, and
#   after it gave the card back (and the server's memory was released, RELEASE) the card is flat
#   again, at the same baseline: a resident that woke and stayed (a wake that made the gate yield)
#   is still there, and a resident's change in either direction shows;
# - where the card's compute processes are recorded (nvidia_gpu_exporter's
#   `nvidia_smi_compute_apps`), they are the baseline's count plus at most the server's one
#   process throughout, and back to the baseline's after: a resident that started or stopped a
#   process in the span, even one back by the exit, shows.
# A span that fails any check is reported with why and left out; no clean span is a refusal.

SETTLE_SECONDS = 120.0
RELEASE_SECONDS = 60.0
TOLERANCE_BYTES = 128 * MIB
MIN_SETTLED_SAMPLES = 3


@dataclass(frozen=True)
class Span:
    """One time the server held the card, and what it shows."""

    entered: datetime
    left: datetime | None  # None: still held at the end of the trace
    baseline_bytes: int | None = None  # the card's use just before the entry (median of the settled reading)
    rise_bytes: int | None = None  # the most the card held over it while the server did
    drift_bytes: int | None = None  # how far the baseline's readings (before, after) spread
    problem: str = ""  # why the residents' side is not known steady; "" when it is

    @property
    def clean(self) -> bool:
        return not self.problem


@dataclass(frozen=True)
class CardMeasurement:
    card: str
    spans: tuple[Span, ...]
    step_seconds: float
    headroom_bytes: int
    processes_known: bool

    @property
    def clean(self) -> tuple[Span, ...]:
        return tuple(s for s in self.spans if s.clean)

    @property
    def peak_bytes(self) -> int:
        return max(s.rise_bytes or 0 for s in self.clean)

    @property
    def lowest_peak_bytes(self) -> int:
        return min(s.rise_bytes or 0 for s in self.clean)

    @property
    def drift_bytes(self) -> int:
        return max(s.drift_bytes or 0 for s in self.clean)

    @property
    def own_peak_bytes(self) -> int:
        return math.ceil(self.peak_bytes / MIB) * MIB

    @property
    def floor_bytes(self) -> int:
        return math.ceil((self.peak_bytes + self.headroom_bytes) / MIB) * MIB

    @property
    def how(self) -> str:
        known = "the card settled before each entry and back at its baseline after the exit"
        return known + (", its compute processes unchanged but the server's" if self.processes_known else "")


def _use(snapshot: Snapshot) -> int:
    return sum(p.used_bytes for p in snapshot.pods)


def _settled(readings: list[Snapshot], what: str) -> tuple[int | None, int, str]:
    """(median, spread, problem) of a window's readings: flat within TOLERANCE, enough of them."""
    if len(readings) < MIN_SETTLED_SAMPLES:
        return None, 0, f"{len(readings)} readings {what}, fewer than {MIN_SETTLED_SAMPLES}: not known settled"
    values = sorted(_use(s) for s in readings)
    spread = values[-1] - values[0]
    median = values[len(values) // 2]
    if spread > TOLERANCE_BYTES:
        return median, spread, f"the card moved by {format_size(spread)} {what}: not settled"
    return median, spread, ""


def _processes(readings: list[Snapshot]) -> set[int]:
    return {s.processes for s in readings if s.processes is not None}


def _span(trace: Trace, entered: datetime, left: datetime | None) -> Span:
    snapshots = trace.snapshots
    before = [s for s in snapshots if entered - timedelta(seconds=SETTLE_SECONDS) <= s.time < entered]
    baseline, spread_before, problem = _settled(before, "in the 2 minutes before the entry")
    if problem:
        return Span(entered, left, baseline, problem=problem)
    assert baseline is not None
    held = [s for s in snapshots if entered <= s.time and (left is None or s.time < left)]
    rise = max((_use(s) - baseline for s in held), default=0)
    if left is None:
        return Span(entered, left, baseline, rise, problem="still held at the end of the trace: no reading after the exit")
    start = left + timedelta(seconds=RELEASE_SECONDS)
    after = [s for s in snapshots if start <= s.time < start + timedelta(seconds=SETTLE_SECONDS)]
    back, spread_after, problem = _settled(after, "in the 2 minutes after the exit")
    if problem:
        return Span(entered, left, baseline, rise, problem=problem)
    assert back is not None
    drift = max(spread_before, spread_after, abs(back - baseline))
    return Span(entered, left, baseline, rise, drift, _residents_moved(baseline, back) or _processes_changed(before, held, after))


def _residents_moved(baseline: int, back: int) -> str:
    """Why the card's use after the exit is not its baseline before the entry; "" when it is."""
    if abs(back - baseline) > TOLERANCE_BYTES:
        return f"after the exit the card held {format_size(back)}, not its baseline {format_size(baseline)}: the residents moved"
    return ""


def _processes_changed(before: list[Snapshot], held: list[Snapshot], after: list[Snapshot]) -> str:
    """Why the card's compute processes say a resident started or stopped one (the same count
    before and after, at most the server's one more while it held the card); "" when they do not,
    or were not recorded."""
    counted_before, counted_after, counted_held = _processes(before), _processes(after), _processes(held)
    if not (counted_before or counted_held or counted_after):
        return ""
    if len(counted_before) != 1 or counted_after != counted_before:
        return f"compute processes {sorted(counted_before)} before, {sorted(counted_after)} after"
    [count] = counted_before
    if not counted_held <= {count, count + 1}:
        return (
            f"compute processes went from {count} to {sorted(counted_held)} while the server held the card: "
            "a resident started or stopped one"
        )
    return ""


def holds(trace: Trace) -> list[tuple[datetime, datetime | None]]:
    """When the server held the card, from the gate's record of its replicas (carried forward
    between records; before the first, unknown)."""
    spans: list[tuple[datetime, datetime | None]] = []
    replicas: int | None = None
    entered: datetime | None = None
    for snapshot in trace.snapshots:
        if snapshot.replicas is None:
            continue
        if replicas == 0 and snapshot.replicas >= 1:
            entered = snapshot.time
        elif entered is not None and snapshot.replicas == 0:
            spans.append((entered, snapshot.time))
            entered = None
        replicas = snapshot.replicas
    if entered is not None:
        spans.append((entered, None))
    return spans


def measure_card(trace: Trace, headroom_bytes: int) -> CardMeasurement:
    """The server's own use on a card nothing attributes, from its rise over the baseline of each
    clean span; NothingToMeasure (one line) without the gate's record or a clean span."""
    where = trace.card or trace.name
    if all(s.replicas is None for s in trace.snapshots):
        raise NothingToMeasure(
            f"{where}: no record of the server's replicas (the gate's gate_replicas, `replicas` rows): with a source that "
            "attributes nothing, that record is how the server's spans on the card are known"
        )
    spans = tuple(_span(trace, entered, left) for entered, left in holds(trace))
    measured = CardMeasurement(where, spans, trace.step_seconds, headroom_bytes, any(s.processes is not None for s in trace.snapshots))
    if not measured.clean:
        reasons = "; ".join(f"{_when(s)}: {s.problem}" for s in spans)[:600] or "the server never took the card"
        raise NothingToMeasure(f"{where}: no span in which the residents were known steady ({len(spans)} entries: {reasons})")
    return measured


def _when(span: Span) -> str:
    end = f"{span.left:%H:%M:%S}" if span.left else "end"
    return f"{span.entered:%H:%M:%S}-{end}"


def card_helm_line(m: CardMeasurement, release: str, namespace: str) -> str:
    return (
        f"helm upgrade {release} ./chart -n {namespace} --reuse-values "
        f"--set gate.ownPeak={m.own_peak_bytes // MIB}MiB --set gate.floor={m.floor_bytes // MIB}MiB"
    )


def card_report_text(m: CardMeasurement, release: str, namespace: str, floor_bytes: int | None = None) -> str:
    lines = [
        f"card            {m.card}: no attribution, the server's use is the card's rise over its baseline",
        f"spans           {len(m.spans)} entries, {len(m.clean)} clean (residents steady: {m.how})",
    ]
    for span in m.spans:
        if span.clean:
            lines.append(
                f"  {_when(span)}  rise {format_size(span.rise_bytes or 0)} over {format_size(span.baseline_bytes or 0)} "
                f"(baseline within {format_size(span.drift_bytes or 0)})"
            )
        else:
            lines.append(f"  {_when(span)}  left out: {span.problem}")
    spread = f"{format_size(m.lowest_peak_bytes)} to {format_size(m.peak_bytes)} over {len(m.clean)} span(s)"
    lines.append(
        f"own peak        {format_size(m.peak_bytes)} ({m.peak_bytes // MIB} MiB); spread {spread}, "
        f"baselines within {format_size(m.drift_bytes)}"
    )
    if floor_bytes:
        budget = policy.budget_bytes(floor_bytes)
        verdict = "within budget" if m.peak_bytes <= budget else "OVER BUDGET: raise the floor"
        lines.append(f"floor now       {format_size(floor_bytes)} ({floor_bytes // MIB} MiB): {verdict}")
    lines += [
        f"headroom        {format_size(m.headroom_bytes)}",
        f"ownPeak to set  {m.own_peak_bytes // MIB}MiB (the largest clean rise)",
        f"floor to set    {m.floor_bytes // MIB}MiB (own peak + headroom)",
        "",
        card_helm_line(m, release, namespace),
    ]
    return "\n".join(lines)


def card_report_json(m: CardMeasurement, release: str, namespace: str, floor_bytes: int) -> dict[str, Any]:
    return {
        "card": m.card,
        "method": "rise over the baseline before each entry",
        "steady_because": m.how,
        "spans": [
            {
                "entered": format_instant(s.entered),
                "left": format_instant(s.left) if s.left else None,
                "baseline_bytes": s.baseline_bytes,
                "rise_bytes": s.rise_bytes,
                "drift_bytes": s.drift_bytes,
                "clean": s.clean,
                "problem": s.problem or None,
            }
            for s in m.spans
        ],
        "peak_bytes": m.peak_bytes,
        "lowest_peak_bytes": m.lowest_peak_bytes,
        "drift_bytes": m.drift_bytes,
        "headroom_bytes": m.headroom_bytes,
        "own_peak_bytes": m.own_peak_bytes,
        "own_peak": f"{m.own_peak_bytes // MIB}MiB",
        "floor_bytes": m.floor_bytes,
        "floor": f"{m.floor_bytes // MIB}MiB",
        "configured_floor_bytes": floor_bytes,
        "over_budget": m.peak_bytes > policy.budget_bytes(floor_bytes),
        "helm": card_helm_line(m, release, namespace),
    }
