"""`gate replay --plot`: one picture of a night. matplotlib is an optional extra (`.[plot]`), kept
out of the gate image."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from gate.replay.loop import ReplayResult
from gate.units import InvalidValue, Window

GiB = 2**30
COLORS = {"gate": "#1b7f3b", "seed": "#b8472b", "reactive": "#5565a8"}
# Residents' colours: one per pod, picked by its name, so a pod keeps its colour in every plot.
PALETTE = ["#8dd3c7", "#bebada", "#fb8072", "#80b1d3", "#fdb462", "#b3de69", "#fccde5", "#bc80bd", "#ccebc5", "#ffed6f", "#d9d9d9"]


def pod_color(namespace: str, pod: str) -> str:
    return PALETTE[zlib.crc32(f"{namespace}/{pod}".encode()) % len(PALETTE)]


# The install the README gives for a workstation's gate with plotting (tests/test_docs.py holds it there).
PLOT_INSTALL = "pipx install '.[plot]'"


def plot_night(results: list[ReplayResult], path: Path, title: str) -> None:
    plt, mdates = _pyplot()
    if path.suffix.lower() not in (".png", ".svg"):
        raise InvalidValue(f"invalid plot file {str(path)!r}: expected a .png or .svg name")
    night = _Night.of(results[0])
    figure, axes = plt.subplots(len(results), 1, figsize=(14, 3.8 * len(results)), sharex=True, squeeze=False)
    for axis, result in zip(axes[:, 0], results, strict=True):
        _draw_memory(axis, night, result)
        _shade_window(axis, night)
        _draw_actions(axis, night, result)
        axis.set_title(f"{result.policy} policy. {_summary(result)}", fontsize=9, loc="left")
        axis.set_ylabel("GPU memory (GiB)")
        axis.set_ylim(0, night.total * 1.08)
        axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    axes[-1, 0].xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=night.window.tz))
    axes[-1, 0].set_xlabel(f"local time ({night.window.tz.key}); shaded: the window")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _pyplot() -> tuple[Any, Any]:
    """matplotlib's pyplot and dates, drawing to files only; InvalidValue naming the extra when it is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.dates as mdates
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise InvalidValue(f"plotting needs matplotlib, the gate's plot extra: {PLOT_INSTALL} in the tts repository") from exc
    return plt, mdates


@dataclass(frozen=True)
class _Night:
    """What every policy's panel shares: the trace's times, the residents' stacks (GiB, one per
    pod), the card and the residents' limit (card - floor), the window."""

    times: list[datetime]
    pods: list[tuple[str, str]]
    stacks: list[list[float]]
    total: float
    threshold: float
    window: Window

    @classmethod
    def of(cls, first: ReplayResult) -> _Night:
        trace, settings = first.trace, first.config.settings
        assert settings.window is not None and settings.total_bytes is not None
        pods = sorted({(p.namespace, p.pod) for s in trace.snapshots for p in s.pods})
        stacks = [[next((p.used_bytes for p in s.pods if (p.namespace, p.pod) == key), 0) / GiB for s in trace.snapshots] for key in pods]
        return cls(
            times=[s.time for s in trace.snapshots],
            pods=pods,
            stacks=stacks,
            total=settings.total_bytes / GiB,
            threshold=(settings.total_bytes - settings.floor_bytes) / GiB,
            window=settings.window,
        )


def _draw_memory(axis: Any, night: _Night, result: ReplayResult) -> None:
    """The residents stacked from the bottom, the server's own memory hanging from the top of the
    card, so the picture reads as the rule does: residents must stay under the dashed line; above
    it is the server's floor."""
    times, total = night.times, night.total
    if night.stacks:
        axis.stackplot(
            times,
            *night.stacks,
            labels=[f"resident {ns}/{pod}" for ns, pod in night.pods],
            colors=[pod_color(ns, pod) for ns, pod in night.pods],
            alpha=0.85,
            step="post",
        )
    held = [result.own_bytes(int(when.timestamp())) / GiB for when in times]
    axis.fill_between(
        times,
        [total - h for h in held],
        [total] * len(held),
        where=[h > 0 for h in held],
        step="post",
        color=COLORS[result.policy],
        alpha=0.45,
        label="TTS server's memory (drawn from the top)",
    )
    axis.axhline(total, color="black", linewidth=1, label=f"the card: {total:.1f} GiB")
    axis.axhline(
        night.threshold, color="black", linestyle="--", linewidth=1, label=f"residents' limit: card - floor ({night.threshold:.1f} GiB)"
    )


def _shade_window(axis: Any, night: _Night) -> None:
    """The window, each day of the night, shaded (one legend entry)."""
    window, times = night.window, night.times
    day = times[0].astimezone(window.tz).date()
    shaded = False
    while datetime.combine(day, window.start, window.tz) <= times[-1]:
        start = datetime.combine(day, window.start, window.tz)
        end = datetime.combine(day + (timedelta(days=1) if window.end <= window.start else timedelta()), window.end, window.tz)
        axis.axvspan(start, end, color="#f3e9a8", alpha=0.35, zorder=0, label=None if shaded else f"the window {window}")
        shaded = True
        day += timedelta(days=1)


def _draw_actions(axis: Any, night: _Night, result: ReplayResult) -> None:
    """Each change of desired replicas: a line, and what was done and why beside it."""
    for index, action in enumerate(result.actions):
        axis.axvline(action.time, color=COLORS[result.policy], linewidth=0.8, label=None if index else "a decision: in (1) or out (0)")
        axis.annotate(
            f"{'in' if action.replicas else 'out'}: {action.command}, {action.reason}",
            (action.time, night.threshold * 0.97),
            rotation=90,
            fontsize=7,
            va="top",
            ha="right",
        )


def _summary(result: ReplayResult) -> str:
    return ", ".join(
        f"{n.night}: baked {n.utilization:.0%} of the time it had room; held memory without room {n.breach_seconds}s; "
        f"took the card {n.entries}x"
        for n in result.nights
    )
