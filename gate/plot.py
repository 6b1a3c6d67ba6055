"""`gate replay --plot`: one picture of a night. matplotlib is an optional extra (`.[plot]`), kept
out of the gate image."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from gate.replay import ReplayResult
from gate.units import InvalidValue

GiB = 2**30
COLORS = {"gate": "#1b7f3b", "seed": "#b8472b", "reactive": "#5565a8"}


def plot_night(results: list[ReplayResult], path: Path, title: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.dates as mdates
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise InvalidValue("plotting needs matplotlib: pip install 'tts-gate[plot]'") from exc
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

    figure, axes = plt.subplots(len(results), 1, figsize=(14, 3.6 * len(results)), sharex=True, squeeze=False)
    for axis, result in zip(axes[:, 0], results, strict=True):
        residents_top = [sum(values) for values in zip(*stacks, strict=False)] if stacks else [0.0] * len(times)
        if stacks:
            axis.stackplot(times, *stacks, labels=[f"{ns}/{pod}" for ns, pod in pods], alpha=0.75, step="post")
        own = []
        for when, base in zip(times, residents_top, strict=True):
            held = result.own_bytes(int(when.timestamp())) / GiB
            own.append((base, base + held))
        axis.fill_between(
            times, [b for b, _ in own], [t for _, t in own], step="post", color=COLORS[result.policy], alpha=0.45, label="TTS pod"
        )
        axis.axhline(total, color="black", linewidth=1, label=f"total {total:.1f} GiB")
        axis.axhline(threshold, color="black", linestyle="--", linewidth=1, label="room ends (total - floor)")
        day = times[0].astimezone(window.tz).date()
        while datetime.combine(day, window.start, window.tz) <= times[-1]:
            start = datetime.combine(day, window.start, window.tz)
            end = datetime.combine(day + (timedelta(days=1) if window.end <= window.start else timedelta()), window.end, window.tz)
            axis.axvspan(start, end, color="#f3e9a8", alpha=0.35, zorder=0)
            day += timedelta(days=1)
        for action in result.actions:
            axis.axvline(action.time, color=COLORS[result.policy], linewidth=0.8)
            axis.annotate(
                f"{action.command} {'up' if action.replicas else 'down'}",
                (action.time, total * 0.98),
                rotation=90,
                fontsize=7,
                va="top",
                ha="right",
            )
        summary = ", ".join(
            f"{n.night}: utilization {n.utilization:.2f}, breach {n.breach_seconds}s, entries {n.entries}" for n in result.nights
        )
        axis.set_title(f"{result.policy} policy: {summary}", fontsize=9, loc="left")
        axis.set_ylabel("GPU memory (GiB)")
        axis.set_ylim(0, total * 1.08)
        axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    axes[-1, 0].xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=window.tz))
    axes[-1, 0].set_xlabel(f"local time ({window.tz.key}); shaded: the window")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
