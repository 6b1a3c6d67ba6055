"""Recorded GPU memory: `timestamp,namespace,pod,used_bytes` rows, one per pod per scrape.

All rows with one timestamp are that scrape's whole snapshot (a pod absent from it used 0). A
scrape that saw no GPU process at all is written as one row with empty namespace and pod and 0
bytes, because a timestamp with no rows at all is a scrape that failed (the exporter was down).
"""

from __future__ import annotations

import bisect
import csv
import io
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from gate.policy import PodUsage
from gate.units import InvalidValue, format_instant, parse_instant

HEADER = ["timestamp", "namespace", "pod", "used_bytes"]


@dataclass(frozen=True)
class Snapshot:
    time: datetime
    pods: tuple[PodUsage, ...]


@dataclass(frozen=True)
class Trace:
    snapshots: tuple[Snapshot, ...]
    step_seconds: float
    name: str = "trace"
    _times: list[datetime] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_times", [s.time for s in self.snapshots])

    @property
    def start(self) -> datetime:
        return self.snapshots[0].time

    @property
    def end(self) -> datetime:
        return self.snapshots[-1].time

    def latest(self, at: datetime) -> Snapshot | None:
        """The newest snapshot taken at or before `at`."""
        index = bisect.bisect_right(self._times, at)
        return self.snapshots[index - 1] if index else None

    def fresh(self, at: datetime) -> Snapshot | None:
        """The snapshot a scrape at `at` would have got; None when the last one is older than the
        sampling step (the scrape failed)."""
        snapshot = self.latest(at)
        if snapshot is None or (at - snapshot.time).total_seconds() > self.step_seconds:
            return None
        return snapshot

    def keeping(self, keep: Callable[[PodUsage], bool]) -> Trace:
        """The same trace with only the pods `keep` accepts."""
        return Trace(tuple(Snapshot(s.time, tuple(p for p in s.pods if keep(p))) for s in self.snapshots), self.step_seconds, self.name)


def sampling_step(times: list[datetime]) -> float:
    """The most common gap between scrapes: outages make some gaps longer, never shorter."""
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False) if b > a]
    if not gaps:
        raise InvalidValue("a trace needs at least two scrape times to tell its sampling step")
    return Counter(gaps).most_common(1)[0][0]


def from_rows(rows: dict[datetime, list[PodUsage]], name: str) -> Trace:
    times = sorted(rows)
    snapshots = tuple(
        Snapshot(t, tuple(sorted((p for p in rows[t] if p.pod or p.used_bytes), key=lambda p: (p.namespace, p.pod)))) for t in times
    )
    return Trace(snapshots, sampling_step(times), name)


def parse_csv(text: str, name: str = "trace") -> Trace:
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None or [h.strip() for h in header] != HEADER:
        raise InvalidValue(f"{name}: expected the header {','.join(HEADER)}, got {','.join(header or [])!r}")
    rows: dict[datetime, list[PodUsage]] = defaultdict(list)
    seen: set[tuple[datetime, str, str]] = set()
    for number, row in enumerate(reader, start=2):
        if not row or not "".join(row).strip():
            continue
        if len(row) != 4:
            raise InvalidValue(f"{name} line {number}: expected 4 fields ({','.join(HEADER)}), got {len(row)}")
        stamp, namespace, pod, used = (field.strip() for field in row)
        try:
            when = parse_instant(stamp)
        except InvalidValue as exc:
            raise InvalidValue(f"{name} line {number}: {exc}") from exc
        if not used.isdigit():
            raise InvalidValue(f"{name} line {number}: used_bytes {used!r} is not a whole number of bytes")
        key = (when, namespace, pod)
        if key in seen:
            raise InvalidValue(f"{name} line {number}: {namespace}/{pod} appears twice at {stamp}")
        seen.add(key)
        rows[when].append(PodUsage(namespace, pod, int(used)))
    if not rows:
        raise InvalidValue(f"{name}: no rows")
    return from_rows(rows, name)


def load_csv(path: Path) -> Trace:
    try:
        text = path.read_text()
    except OSError as exc:
        raise InvalidValue(f"cannot read trace {str(path)!r}: {exc.strerror}") from exc
    return parse_csv(text, path.name)


def to_csv(trace: Trace) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    for snapshot in trace.snapshots:
        stamp = format_instant(snapshot.time)
        if not snapshot.pods:
            writer.writerow([stamp, "", "", 0])
        for pod in snapshot.pods:
            writer.writerow([stamp, pod.namespace, pod.pod, pod.used_bytes])
    return out.getvalue()


def from_scrapes(rows: dict[datetime, list[PodUsage]], up: set[datetime], name: str) -> Trace:
    """A trace from a range read: every step the exporter was up is a snapshot (empty: idle)."""
    times = up | set(rows)
    if not times:
        raise InvalidValue(f"{name}: no sample in the range (was the exporter scraped then?)")
    return from_rows({t: rows.get(t, []) for t in times}, name)
