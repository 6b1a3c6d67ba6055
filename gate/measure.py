"""`gate measure`: the TTS pod's real GPU memory over a range, and the floor to set from it.

The seed says "YOU MUST MEASURE THIS"; this is that measurement. Usage is the Deployment's own
pods per scrape (their processes summed), from a trace or from Prometheus.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from gate import policy
from gate.trace import Trace
from gate.units import format_size

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
