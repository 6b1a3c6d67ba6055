"""Recorded GPU memory, in two CSV forms.

One card (the first form): `timestamp,namespace,pod,used_bytes`, one row per pod per scrape.
All rows with one timestamp are that scrape's whole snapshot (a pod absent from it used 0). A
scrape that saw no GPU process at all is written as one row with empty namespace and pod and 0
bytes, because a timestamp with no rows at all is a scrape that failed (the exporter was down).

Cards (the second form): `timestamp,node,device,kind,namespace,pod,value`, so one file holds a
cluster's night, each row on its card (node, device):

- `used`: bytes held on the card by namespace/pod; empty namespace and pod are memory no pod is
  named for (all that a device-level exporter reports: dcgm-exporter's used + reserved,
  nvidia_gpu_exporter's total - free). Per scrape and card, as in the first form.
- `processes`: compute processes on the card (nvidia_gpu_exporter's `nvidia_smi_compute_apps`).
- `replicas`: the server Deployment's replicas as the gate recorded them (`gate_replicas`);
  namespace and pod are the Deployment's namespace and name.

`processes` and `replicas` rows belong to the scrape of their timestamp, which needs its `used`
rows. Reading the second form picks one card (`node`, `device`; either may be left out when the
file has one card that fits).
"""

from __future__ import annotations

import bisect
import csv
import io
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from gate.formats import normalize_uuid
from gate.policy import PodUsage
from gate.units import InvalidValue, format_instant, parse_instant

HEADER = ["timestamp", "namespace", "pod", "used_bytes"]
CARD_HEADER = ["timestamp", "node", "device", "kind", "namespace", "pod", "value"]
KINDS = ("used", "processes", "replicas")


@dataclass(frozen=True)
class Snapshot:
    time: datetime
    pods: tuple[PodUsage, ...]
    processes: int | None = None  # compute processes on the card, where recorded
    replicas: int | None = None  # the server's replicas as the gate recorded them, where recorded


@dataclass(frozen=True)
class Trace:
    snapshots: tuple[Snapshot, ...]
    step_seconds: float
    name: str = "trace"
    node: str | None = None  # the card, in the second form
    device: str | None = None
    _times: list[datetime] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_times", [s.time for s in self.snapshots])

    @property
    def start(self) -> datetime:
        return self.snapshots[0].time

    @property
    def end(self) -> datetime:
        return self.snapshots[-1].time

    @property
    def card(self) -> str | None:
        return f"{self.node}/{self.device}" if self.node is not None else None

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
        return replace(self, snapshots=tuple(replace(s, pods=tuple(p for p in s.pods if keep(p))) for s in self.snapshots))


def sampling_step(times: list[datetime]) -> float:
    """The most common gap between scrapes: outages make some gaps longer, never shorter."""
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False) if b > a]
    if not gaps:
        raise InvalidValue("a trace needs at least two scrape times to tell its sampling step")
    return Counter(gaps).most_common(1)[0][0]


def from_rows(
    rows: dict[datetime, list[PodUsage]],
    name: str,
    processes: dict[datetime, int] | None = None,
    replicas: dict[datetime, int] | None = None,
    card: tuple[str, str] | None = None,
) -> Trace:
    times = sorted(rows)
    snapshots = tuple(
        Snapshot(
            t,
            tuple(sorted((p for p in rows[t] if p.pod or p.used_bytes), key=lambda p: (p.namespace, p.pod))),
            (processes or {}).get(t),
            (replicas or {}).get(t),
        )
        for t in times
    )
    node, device = card if card is not None else (None, None)
    return Trace(snapshots, sampling_step(times), name, node, device)


def parse_csv(text: str, name: str = "trace", node: str | None = None, device: str | None = None) -> Trace:
    """A trace of either form; of the second, the card `node`/`device` picks (InvalidValue when
    it picks none, or several)."""
    reader = csv.reader(io.StringIO(text))
    header = [h.strip() for h in next(reader, None) or []]
    if header == CARD_HEADER:
        return _parse_cards(reader, name, node, device)
    if header != HEADER:
        raise InvalidValue(f"{name}: expected the header {','.join(HEADER)} (or {','.join(CARD_HEADER)}), got {','.join(header)!r}")
    rows: dict[datetime, list[PodUsage]] = defaultdict(list)
    seen: set[tuple[datetime, str, str]] = set()
    for number, row in enumerate(reader, start=2):
        if not row or not "".join(row).strip():
            continue
        if len(row) != 4:
            raise InvalidValue(f"{name} line {number}: expected 4 fields ({','.join(HEADER)}), got {len(row)}")
        stamp, namespace, pod, used = (field.strip() for field in row)
        when = _instant(stamp, name, number)
        key = (when, namespace, pod)
        if key in seen:
            raise InvalidValue(f"{name} line {number}: {namespace}/{pod} appears twice at {stamp}")
        seen.add(key)
        rows[when].append(PodUsage(namespace, pod, _count(used, "used_bytes", name, number)))
    if not rows:
        raise InvalidValue(f"{name}: no rows")
    return from_rows(rows, name)


def _instant(stamp: str, name: str, number: int) -> datetime:
    try:
        return parse_instant(stamp)
    except InvalidValue as exc:
        raise InvalidValue(f"{name} line {number}: {exc}") from exc


def _count(text: str, what: str, name: str, number: int) -> int:
    if not text.isdigit():
        raise InvalidValue(f"{name} line {number}: {what} {text!r} is not a whole number")
    return int(text)


@dataclass
class _Card:
    used: dict[datetime, list[PodUsage]] = field(default_factory=lambda: defaultdict(list))
    processes: dict[datetime, int] = field(default_factory=dict)
    replicas: dict[datetime, int] = field(default_factory=dict)
    seen: set[tuple[datetime, str, str, str]] = field(default_factory=set)


def same_device(recorded: str, wanted: str) -> bool:
    """A device as the trace recorded it and as asked for: an index, or a UUID in either spelling."""
    return recorded == wanted or (not wanted.isdigit() and normalize_uuid(recorded) == normalize_uuid(wanted))


def _parse_cards(reader: object, name: str, node: str | None, device: str | None) -> Trace:
    cards: dict[tuple[str, str], _Card] = defaultdict(_Card)
    for number, row in enumerate(reader, start=2):  # type: ignore[call-overload]
        if not row or not "".join(row).strip():
            continue
        if len(row) != len(CARD_HEADER):
            raise InvalidValue(f"{name} line {number}: expected {len(CARD_HEADER)} fields ({','.join(CARD_HEADER)}), got {len(row)}")
        stamp, on, gpu, kind, namespace, pod, value = (f.strip() for f in row)
        if not on or not gpu:
            raise InvalidValue(f"{name} line {number}: a row needs its card: node and device")
        if kind not in KINDS:
            raise InvalidValue(f"{name} line {number}: kind {kind!r} is not one of {', '.join(KINDS)}")
        when, count = _instant(stamp, name, number), _count(value, "value", name, number)
        card = cards[(on, gpu)]
        key = (when, kind, namespace, pod)
        if key in card.seen:
            raise InvalidValue(f"{name} line {number}: {kind} {namespace}/{pod} on {on}/{gpu} appears twice at {stamp}")
        card.seen.add(key)
        if kind == "used":
            card.used[when].append(PodUsage(namespace, pod, count))
        elif kind == "processes":
            card.processes[when] = count
        else:
            card.replicas[when] = count
    if not cards:
        raise InvalidValue(f"{name}: no rows")
    listed = ", ".join(f"{n}/{d}" for n, d in sorted(cards))
    chosen = [c for c in sorted(cards) if (node is None or c[0] == node) and (device is None or same_device(c[1], device))]
    if not chosen:
        raise InvalidValue(f"{name}: no card node {node or '(any)'}, device {device or '(any)'} in it (it holds {listed})")
    if len(chosen) > 1:
        raise InvalidValue(f"{name}: holds {len(chosen)} cards ({listed}): choose one with --card-node and --card-device")
    key = chosen[0]
    card = cards[key]
    for when in sorted(set(card.processes) | set(card.replicas)):
        if when not in card.used:
            raise InvalidValue(f"{name}: {key[0]}/{key[1]} has a processes or replicas row at {format_instant(when)} and no used row")
    return from_rows(card.used, f"{name} {key[0]}/{key[1]}", card.processes, card.replicas, key)


def load_csv(path: Path, node: str | None = None, device: str | None = None) -> Trace:
    try:
        text = path.read_text()
    except OSError as exc:
        raise InvalidValue(f"cannot read trace {str(path)!r}: {exc.strerror}") from exc
    return parse_csv(text, path.name, node, device)


def to_csv(trace: Trace) -> str:
    """The first form (one card, pods only)."""
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


def to_card_csv(traces: list[Trace], deployment: tuple[str, str] = ("tts", "chatterbox-tts")) -> str:
    """The second form: several cards' traces (each with its node and device) in one file."""
    rows = []
    for trace in traces:
        if trace.node is None or trace.device is None:
            raise ValueError(f"{trace.name}: a trace without its card cannot go in a cards file")
        for snapshot in trace.snapshots:
            stamp = format_instant(snapshot.time)
            card = [stamp, trace.node, trace.device]
            rows.extend([*card, "used", p.namespace, p.pod, p.used_bytes] for p in snapshot.pods or (PodUsage("", "", 0),))
            if snapshot.processes is not None:
                rows.append([*card, "processes", "", "", snapshot.processes])
            if snapshot.replicas is not None:
                rows.append([*card, "replicas", *deployment, snapshot.replicas])
    rows.sort(key=lambda r: (r[0], r[1], r[2], KINDS.index(str(r[3])), r[4], r[5]))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CARD_HEADER)
    writer.writerows(rows)
    return out.getvalue()


def from_scrapes(
    rows: dict[datetime, list[PodUsage]],
    up: set[datetime],
    name: str,
    processes: dict[datetime, int] | None = None,
    replicas: dict[datetime, int] | None = None,
    card: tuple[str, str] | None = None,
) -> Trace:
    """A trace from a range read: every step the exporter was up is a snapshot (empty: idle)."""
    times = up | set(rows)
    if not times:
        raise InvalidValue(f"{name}: no sample in the range (was the exporter scraped then?)")
    return from_rows({t: rows.get(t, []) for t in times}, name, processes, replicas, card)
