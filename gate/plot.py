"""`gate replay --plot`: one picture of a night. matplotlib is an optional extra (`.[plot]`), kept
out of the gate image."""

from __future__ import annotations

import zlib
from datetime import datetime, timedelta
from pathlib import Path

from gate.replay.loop import ReplayResult
from gate.units import InvalidValue

GiB = 2**30
COLORS = {"gate": "#1b7f3b", "seed": "#b8472b", "reactive": "#5565a8"}
# Residents' colours: one per pod, picked by its name, so a pod keeps its colour in every plot.
PALETTE = ["#8dd3c7", "#bebada", "#fb8072", "#80b1d3", "#fdb462", "#b3de69", "#fccde5", "#bc80bd", "#ccebc5", "#ffed6f", "#d9d9d9"]


def pod_color(namespace: str, pod: str) -> str:
    return PALETTE[zlib.crc32(f"{namespace}/{pod}".encode()) % len(PALETTE)]


# The install the README gives for a workstation's gate with plotting (tests/test_docs.py holds it there).
PLOT_INSTALL = "pipx install '.[plot]'"


def plot_night(results: list[ReplayResult], path: Path, title: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.dates as mdates
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise InvalidValue(f"plotting needs matplotlib, the gate's plot extra: {PLOT_INSTALL} in the tts repository") from exc
    if path.suffix.lower() not in (".png", ".svg"):
        raise InvalidValue(f"invalid plot file {str(path)!r}: expected a .png or .svg name")

    first = results[0]
    trace, settings = first.trace, first.config.settings
    window = settings.window
    assert window is not None and settings.total_bytes is not None
    times = [s.time for s in trace.snapshots]
    pods = sorted({(p.namespace, p.pod) for s in trace.snapshots for p in s.pods})
    stacks = [[next((p.used_bytes for p in s.pods if (p.namespace, p.pod) == key), 0) / GiB for s in trace.snapshots] for key in pods]
    total = settings.total_bytes / GiB
    threshold = (settings.total_bytes - settings.floor_bytes) / GiB

    figure, axes = plt.subplots(len(results), 1, figsize=(14, 3.8 * len(results)), sharex=True, squeeze=False)
    for axis, result in zip(axes[:, 0], results, strict=True):
        if stacks:
            axis.stackplot(
                times,
                *stacks,
                labels=[f"resident {ns}/{pod}" for ns, pod in pods],
                colors=[pod_color(ns, pod) for ns, pod in pods],
                alpha=0.85,
                step="post",
            )
        # The server's own memory hangs from the top of the card, so the picture reads as the
        # rule does: residents must stay under the dashed line; above it is the server's floor.
        held = [result.own_bytes(int(when.timestamp())) / GiB for when in times]
        axis.fill_between(
            times,
            [total - h for h in held],
            [total if h else total for h in held],
            where=[h > 0 for h in held],
            step="post",
            color=COLORS[result.policy],
            alpha=0.45,
            label="TTS server's memory (drawn from the top)",
        )
        axis.axhline(total, color="black", linewidth=1, label=f"the card: {total:.1f} GiB")
        axis.axhline(threshold, color="black", linestyle="--", linewidth=1, label=f"residents' limit: card - floor ({threshold:.1f} GiB)")
        day = times[0].astimezone(window.tz).date()
        shaded = False
        while datetime.combine(day, window.start, window.tz) <= times[-1]:
            start = datetime.combine(day, window.start, window.tz)
            end = datetime.combine(day + (timedelta(days=1) if window.end <= window.start else timedelta()), window.end, window.tz)
            axis.axvspan(start, end, color="#f3e9a8", alpha=0.35, zorder=0, label=None if shaded else f"the window {window}")
            shaded = True
            day += timedelta(days=1)
        for index, action in enumerate(result.actions):
            axis.axvline(action.time, color=COLORS[result.policy], linewidth=0.8, label=None if index else "a decision: in (1) or out (0)")
            axis.annotate(
                f"{'in' if action.replicas else 'out'}: {action.command}, {action.reason}",
                (action.time, threshold * 0.97),
                rotation=90,
                fontsize=7,
                va="top",
                ha="right",
            )
        summary = ", ".join(
            f"{n.night}: baked {n.utilization:.0%} of the time it had room; held memory without room {n.breach_seconds}s; "
            f"took the card {n.entries}x"
            for n in result.nights
        )
        axis.set_title(f"{result.policy} policy. {summary}", fontsize=9, loc="left")
        axis.set_ylabel("GPU memory (GiB)")
        axis.set_ylim(0, total * 1.08)
        axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    axes[-1, 0].xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=window.tz))
    axes[-1, 0].set_xlabel(f"local time ({window.tz.key}); shaded: the window")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
