"""Writes the sample nights of samples/nights/: a shared T4 as the gpu-pod-exporter would have
recorded it, one scrape every 15 s. Deterministic (seeded), so the CSVs in the repository are
exactly what this writes: `python bench/nights.py samples/nights`.

The tenants are the owner's measured steady residents (immich-server, frigate, portal-stt and an
android emulator, ~4.6 GiB together) plus the ones that wake: immich machine learning (~2.1 GiB,
unloads when idle) and llama-swap (one model at a time, 2.2 to 5.4 GiB).
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gate.policy import PodUsage  # noqa: E402
from gate.trace import from_rows, to_card_csv, to_csv  # noqa: E402

LONDON = ZoneInfo("Europe/London")
MIB = 2**20
STEP = 15
STEADY = {
    ("immich", "immich-server-6c9d8b7f4d-2xk9p"): 1230,
    ("frigate", "frigate-7b5f9c8d6-mz4tq"): 1950,
    ("portal", "portal-stt-5d7c6b9f8-w8r2n"): 1540,
    ("android", "android-emulator-58f7d6c9b-k2j5h"): 150,
}
IMMICH_ML = ("immich", "immich-machine-learning-7d9f8b6c5d-x2k4p")
LLAMA = ("llama-cpp", "llama-swap-5c8d7f9b6-q8w2z")

# (local time, local time) -> MiB: who is awake when, per night.
Episodes = list[tuple[tuple[str, str], str, str, Callable[[random.Random, int], int]]]


def steady(mib: int) -> Callable[[random.Random, int], int]:
    return lambda rng, i: mib + rng.randint(-8, 8)


def jitter(low: int, high: int, period_scrapes: int) -> Callable[[random.Random, int], int]:
    """Usage that swings between low and high: a resident breathing across the floor."""
    return lambda rng, i: (high if (i // period_scrapes) % 2 else low) + rng.randint(-24, 24)


def local(day: str, hhmm: str, fold: int = 0) -> datetime:
    return datetime.fromisoformat(f"{day}T{hhmm}").replace(tzinfo=LONDON, fold=fold).astimezone(UTC)


def night_rows(
    day: str,
    episodes: Episodes,
    begin: str = "01:30",
    finish: str = "06:30",
    outages: list[tuple[str, str]] = (),
    seed: int = 1,
    residents: dict[tuple[str, str], int] | None = None,
) -> dict[datetime, list[PodUsage]]:
    """Per scrape, the pods on one card: the steady `residents` (the owner's by default) and the
    episodes awake then."""
    rng = random.Random(seed)
    start = local(day, begin)
    end = local(day, finish)
    rows: dict[datetime, list[PodUsage]] = {}
    i = 0
    t = start
    while t < end:
        if not any(local(day, a) <= t < local(day, b) for a, b in outages):
            pods = [PodUsage(ns, pod, (mib + rng.randint(-8, 8)) * MIB) for (ns, pod), mib in (residents or STEADY).items()]
            for (ns, pod), a, b, usage in episodes:
                if local(day, a) <= t < local(day, b):
                    pods.append(PodUsage(ns, pod, usage(rng, i) * MIB))
            rows[t] = pods
        t += timedelta(seconds=STEP)
        i += 1
    return rows


def night(name: str, day: str, episodes: Episodes, **shape: Any) -> tuple[str, str]:
    """A sample night as its CSV: `night_rows` (`shape`: its keywords, begin, outages, seed...) named `name`."""
    return name, to_csv(from_rows(night_rows(day, episodes, **shape), name))


def nights() -> list[tuple[str, str]]:
    return [
        night("quiet", "2026-11-12", []),
        night(
            "late-start",
            "2026-11-13",
            [(IMMICH_ML, "01:30", "03:10", steady(2150)), (LLAMA, "01:30", "03:10", steady(4450))],
            seed=2,
        ),
        night("mid-window-wake", "2026-11-14", [(LLAMA, "03:30", "04:05", steady(5530))], seed=3),
        night(
            "flappy-resident",
            "2026-11-15",
            [(LLAMA, "02:45", "04:15", steady(2250)), (IMMICH_ML, "03:00", "04:00", jitter(1950, 2560, 3))],
            seed=4,
        ),
        night(
            "busy",
            "2026-11-16",
            [
                (LLAMA, "02:20", "02:50", steady(5530)),
                (LLAMA, "03:40", "04:30", steady(5530)),
                (IMMICH_ML, "04:00", "04:45", steady(2150)),
                (LLAMA, "05:10", "05:25", steady(4450)),
            ],
            seed=5,
        ),
        # Spring forward: 01:00-02:00 local does not exist; the window opens at 01:00 UTC.
        night("dst-spring", "2026-03-29", [(LLAMA, "03:00", "03:20", steady(5530))], begin="00:30", seed=6),
        # Autumn back: 01:00-02:00 local happens twice; the trace starts before the first one.
        night("dst-autumn", "2026-10-25", [(LLAMA, "04:40", "05:05", steady(5530))], begin="00:30", seed=7),
        night("exporter-outage", "2026-11-17", [], outages=[("02:40", "03:05")], seed=8),
    ]


def wakes(first: str, count: int, every: float, lasting: float, mib: int = 5530) -> Episodes:
    """`count` wakes of llama-swap (5.4 GiB: no room beside the steady residents) from `first`,
    one every `every` minutes, each `lasting` minutes."""
    hours, minutes = map(int, first.split(":"))
    start = hours * 60 + minutes
    spans = [(start + i * every, start + i * every + lasting) for i in range(count)]
    return [(LLAMA, _hhmm(a), _hhmm(b), steady(mib)) for a, b in spans]


def _hhmm(minutes: float) -> str:
    seconds = round(minutes * 60)
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def flappy() -> list[tuple[str, str]]:
    """The flappy family: a resident waking again and again, at different counts and spacings
    (samples/nights/flappy-*.csv). From isolated wakes to wakes that leave three-minute gaps."""
    rng = random.Random(19)
    irregular: Episodes = []
    minute = 2 * 60 + 10.0
    for _ in range(14):  # gaps of 2 to 25 minutes, wakes of 1 to 6
        lasting = rng.uniform(1, 6)
        irregular += [(LLAMA, _hhmm(minute), _hhmm(minute + lasting), steady(5530))]
        minute += lasting + rng.uniform(2, 25)
    return [
        night("flappy-3x40m", "2026-11-18", wakes("02:20", 3, 40, 10), seed=19),
        night("flappy-10x20m", "2026-11-19", wakes("02:15", 10, 20, 4), seed=20),
        night("flappy-12x10m", "2026-11-20", wakes("02:30", 12, 10, 3), seed=21),
        night("flappy-8x5m", "2026-11-21", wakes("03:00", 8, 5, 2), seed=22),
        night(
            "flappy-bursts",
            "2026-11-22",
            wakes("02:30", 4, 3, 1) + wakes("03:30", 4, 3, 1) + wakes("04:30", 4, 3, 1),
            seed=23,
        ),
        night("flappy-irregular", "2026-11-23", irregular, seed=24),
    ]


def queue(day: str, stretches: list[tuple[str, str, int]], begin: str = "01:30", finish: str = "06:30") -> str:
    """tripit's queue as the demand probe reads it (`timestamp,queued`, a row a minute): each
    (from, to, N) stretch starts with N narrations that drain evenly until `to`; 0 elsewhere."""
    lines = ["timestamp,queued"]
    t, end = local(day, begin), local(day, finish)
    while t < end:
        queued = 0
        for a, b, n in stretches:
            start, stop = local(day, a), local(day, b)
            if start <= t < stop:
                queued = max(1, round(n * (stop - t) / (stop - start)))
        lines.append(f"{t:%Y-%m-%dT%H:%M:%SZ},{queued}")
        t += timedelta(minutes=1)
    return "\n".join(lines) + "\n"


def demand() -> list[tuple[str, str]]:
    """Queue traces for some nights (samples/demand/<night>.csv): the nightly bake's 27
    narrations drain by 03:10, the queue stays empty until 04:30 and refills with 12."""
    return [
        ("quiet", queue("2026-11-12", [("01:58", "03:10", 27), ("04:30", "05:05", 12)])),
        ("mid-window-wake", queue("2026-11-14", [("01:58", "03:10", 27), ("04:30", "05:05", 12)])),
        ("busy", queue("2026-11-16", [("01:58", "03:10", 27), ("04:30", "05:05", 12)])),
    ]


# The server's pods on the bake night (tts/chatterbox-tts, one per entry: a re-entry is a new pod).
SERVER_PODS = [("tts", "chatterbox-tts-6b7c9d8f5-h4j7k"), ("tts", "chatterbox-tts-6b7c9d8f5-p9x4m")]
UNLABELLED = ("unknown", "unknown")


def serving(day: str, begin: str, started: str) -> Callable[[random.Random, int], int]:
    """The server's own memory from its CUDA context on: the model loads over a minute (to ~3.3 GiB),
    then it serves at ~3.6 GiB and the allocator's reserve grows during each long chunk (every
    six minutes, for a minute and a half) to ~4.3 GiB, the figures upstream reports on a T4-class card."""
    first = int((local(day, started) - local(day, begin)).total_seconds()) // STEP

    def usage(rng: random.Random, i: int) -> int:
        since = i - first
        if since < 4:
            return 600 + 700 * since + rng.randint(-8, 8)
        if since % 24 >= 18:
            return 4200 + rng.randint(0, 180)
        return 3650 + rng.randint(-16, 16)

    return usage


def baked() -> list[tuple[str, str]]:
    """A night with the server's own pod in it (samples/baked/), for `gate measure`: the
    mid-window-wake night as the exporter saw it with the gate running. The gate takes the card at
    02:00 (the CUDA context appears at 02:00:45, and the exporter labels it `unknown` until its pod
    cache refreshes, ~75 s), yields when llama-swap wakes at 03:30 (memory freed by 03:30:30),
    comes back at 04:07 in a new pod, and gives the card back at 06:00."""
    day, begin = "2026-11-18", "01:30"
    first, second = SERVER_PODS
    episodes: Episodes = [
        (LLAMA, "03:30", "04:05", steady(5530)),
        (UNLABELLED, "02:00:45", "02:02", serving(day, begin, "02:00:45")),
        (first, "02:02", "03:30:30", serving(day, begin, "02:00:45")),
        (UNLABELLED, "04:07:45", "04:09", serving(day, begin, "04:07:45")),
        (second, "04:09", "06:00:15", serving(day, begin, "04:07:45")),
    ]
    return [night("bake", day, episodes, begin=begin, seed=9)]


# Another card (on node-b in two-cards, node-a/1 in the baked nights), with residents of its own;
# llama-swap there is its own instance, not the one on node-a/0.
OTHER_CARD = {("comfy", "comfyui-6f8d9c7b5-q2w8e"): 3100, ("jellyfin", "jellyfin-5b9c8d7f6-t4r2k"): 420}
COMFY_BATCH = ("comfy", "comfyui-worker-7c6d5b4a9-z9x8c")
DRIVER_RESERVED_MIB = 449  # what dcgm-exporter reports as reserved on a T4 (used + reserved is held)


def two_cards() -> list[tuple[str, str]]:
    """A night of two GPU nodes with a card each (samples/cards/two-cards.csv, pods as the owner's
    exporter lists them on each node): node-a/0 is the quiet night's card; on node-b/0 a batch
    job wakes at 02:40 with 9 GiB and llama-swap at 04:10. A gate of node-a/0 must not notice."""
    day = "2026-11-24"
    ours = from_rows(night_rows(day, [], seed=31), "two-cards", card=("node-a", "0"))
    other = night_rows(
        day, [(COMFY_BATCH, "02:40", "03:40", steady(9200)), (LLAMA, "04:10", "04:50", steady(5530))], seed=32, residents=OTHER_CARD
    )
    return [("two-cards", to_card_csv([ours, from_rows(other, "two-cards", card=("node-b", "0"))]))]


def baked_cards() -> list[tuple[str, str]]:
    """The bake night as the device-level exporters saw it (samples/cards/baked-dcgm.csv and
    baked-nvidia-gpu-exporter.csv): per card, the bytes held (residents, the server, the driver's
    reserve; no pod named), the gate's record of the server's replicas on node-a/0, and for
    nvidia_gpu_exporter the compute processes. The gate takes node-a/0 at 02:00 (the server's
    context from 02:00:45), yields at 03:30:15 when llama-swap wakes there (gone at 04:05), takes
    it again at 04:07 and gives it back at 06:00. node-a/1's own llama-swap wakes at 04:30."""
    day, begin = "2026-11-25", "01:30"
    server = [
        (UNLABELLED, "02:00:45", "03:30:30", serving(day, begin, "02:00:45")),
        (UNLABELLED, "04:07:45", "06:00:15", serving(day, begin, "04:07:45")),
    ]
    ours = night_rows(day, [(LLAMA, "03:30", "04:05", steady(5530)), *server], seed=41)
    other = night_rows(day, [(LLAMA, "04:30", "05:00", steady(5530))], seed=42, residents=OTHER_CARD)
    held = [(local(day, a), local(day, b)) for a, b in (("02:00", "03:30:15"), ("04:07", "06:00"))]
    files = []
    for name, count_processes in (("baked-dcgm", False), ("baked-nvidia-gpu-exporter", True)):
        traces = []
        for card, rows in ((("node-a", "0"), ours), (("node-a", "1"), other)):
            used = {t: [PodUsage("", "", sum(p.used_bytes for p in pods) + DRIVER_RESERVED_MIB * MIB)] for t, pods in rows.items()}
            processes = {t: len(pods) for t, pods in rows.items()} if count_processes else None
            replicas = {t: int(any(a <= t < b for a, b in held)) for t in rows} if card == ("node-a", "0") else None
            traces.append(from_rows(used, name, processes, replicas, card))
        files.append((name, to_card_csv(traces)))
    return files


def main(directory: str) -> None:
    target = Path(directory)
    samples = target.parent
    folders = (
        (target, nights() + flappy()),
        (samples / "demand", demand()),
        (samples / "cards", two_cards() + baked_cards()),
        (samples / "baked", baked()),
    )
    for folder, files in folders:
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in files:
            (folder / f"{name}.csv").write_text(text)
            print(f"wrote {folder / name}.csv")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "samples/nights")
