"""The ledger: per-night accounting of one replay (`NightSummary`). The night of a local date D
runs from the window's start on D to its start on D+1 (with no window, D's local day).

- oracle seconds: in-window seconds with room (total - residents >= floor) or, with a queue
  trace, seconds with work queued and room at any hour; bake seconds: baking seconds that are
  oracle seconds;
- held-idle seconds: the Deployment wanted the server while the queue read 0; empty stretches:
  the times the queue drained to 0 in the night;
- breach seconds: the pod holds memory without room; conflict seconds: the pod holds memory
  while residents + peak exceed the total; held-empty seconds: it holds memory while the
  exporter answers HELP/TYPE only;
- a wake: a resident pod going from idle (under 512 MiB) to active inside the window; an
  outage: a gap between scrapes longer than the sampling step that ends inside the window;
- entries, yields (blind or no room), over-budget yields, Job pods (CronJob fires);
- parks and unparks; parked seconds: the pod holds only its residue; parked seconds outside the
  parked rule: parked while total - residents < residue + (floor - peak), the pod's true
  residue and peak (the gate's promise while parked);
- narration made (audio seconds): what the bake seconds would have produced, chunk by chunk
  (`CHUNK_AUDIO_SECONDS` of audio each, at the real-time factor given: synthesis seconds per
  second of audio); a chunk a yield, a park or the window's end cuts short is lost. Beside it,
  the same for the server without issue 29's hook fix, whose real-time factor grows with every
  chunk its process has made as upstream measured (`LEAK_CURVE`): a new pod starts fresh, a park
  keeps the process, and its slowness.

Residents are always the trace's latest snapshot (during an outage, the last one known)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from gate.policy import Reason
from gate.replay.clock import instant
from gate.replay.world import World
from gate.trace import Snapshot
from gate.units import Window

WAKE_THRESHOLD_BYTES = 512 * 2**20
# One chunk of the server's text splitting: upstream's default chunk_size is 120 characters
# (server.py), about 20 words, about 8 s of speech at 150 words a minute. Each is one generate().
CHUNK_AUDIO_SECONDS = 8.0
# The unfixed server (resemble-ai/chatterbox #504, CUDA): 0.49x real time fresh, 0.88x after ~30
# syntheses, 3.46x after ~108; as multiples of the fresh factor, by syntheses made in the
# process, linear between the points and beyond the last.
LEAK_CURVE = ((0, 1.0), (30, 0.88 / 0.49), (108, 3.46 / 0.49))


def leak_factor(made: int) -> float:
    """How much slower than fresh the unfixed server synthesizes after `made` chunks."""
    points = LEAK_CURVE
    for (n0, f0), (n1, f1) in zip(points, points[1:], strict=False):
        if made <= n1:
            return f0 + (f1 - f0) * (made - n0) / (n1 - n0)
    (n0, f0), (n1, f1) = points[-2], points[-1]
    return f1 + (f1 - f0) * (made - n1) / (n1 - n0)


def chunks_made(seconds: int, realtime_factor: float, made_before: int = 0, leaking: bool = False) -> int:
    """Whole chunks one stretch of `seconds` of baking produces, by a process that has made
    `made_before` already (it matters only `leaking`)."""
    if not leaking:
        return int(seconds // (CHUNK_AUDIO_SECONDS * realtime_factor))
    spent, made = 0.0, made_before
    while True:
        cost = CHUNK_AUDIO_SECONDS * realtime_factor * leak_factor(made)
        if spent + cost > seconds:
            return made - made_before
        spent += cost
        made += 1


@dataclass
class NightSummary:
    night: str
    policy: str
    oracle_seconds: int = 0
    bake_seconds: int = 0
    breach_seconds: int = 0
    conflict_seconds: int = 0
    entries: int = 0
    yields: int = 0
    wakes: int = 0
    outages: int = 0
    held_empty_seconds: int = 0  # the pod held memory while the exporter answered HELP/TYPE only
    job_pods: int = 0  # CronJob fires: each creates a Job and its pod
    held_idle_seconds: int = 0  # the Deployment wanted the server while the queue read 0
    empty_stretches: int = 0  # runs of an empty queue that began in the night
    over_budget: int = 0  # yields because the server outgrew its budget (not counted in `yields`)
    parks: int = 0
    unparks: int = 0
    parked_seconds: int = 0  # the pod held only its parked residue
    parked_outside_rule_seconds: int = 0  # parked while the card could not hold the residue and the headroom
    audio_seconds: float = 0.0  # narration the bake seconds made (see the module's docstring)
    audio_seconds_unfixed: float = 0.0  # the same by the server without the hook fix

    @property
    def utilization(self) -> float:
        return self.bake_seconds / self.oracle_seconds if self.oracle_seconds else 1.0

    def to_json(self) -> dict[str, Any]:
        return {
            "night": self.night,
            "policy": self.policy,
            "oracle_seconds": self.oracle_seconds,
            "bake_seconds": self.bake_seconds,
            "utilization": round(self.utilization, 4),
            "breach_seconds": self.breach_seconds,
            "conflict_seconds": self.conflict_seconds,
            "entries": self.entries,
            "yields": self.yields,
            "wakes": self.wakes,
            "outages": self.outages,
            "held_empty_seconds": self.held_empty_seconds,
            "job_pods": self.job_pods,
            "held_idle_seconds": self.held_idle_seconds,
            "empty_stretches": self.empty_stretches,
            "over_budget": self.over_budget,
            "parks": self.parks,
            "unparks": self.unparks,
            "parked_seconds": self.parked_seconds,
            "parked_outside_rule_seconds": self.parked_outside_rule_seconds,
            "audio_seconds": self.audio_seconds,
            "audio_seconds_unfixed": self.audio_seconds_unfixed,
        }


def night_of(t: int, window: Window) -> date:
    """Nights run from one window start to the next, on the local clock."""
    local = instant(t).astimezone(window.tz).replace(tzinfo=None)
    start = datetime.combine(local.date(), window.start)
    return local.date() if local >= start else local.date() - timedelta(days=1)


class LocalMinutes:
    """`night_of` and `Window.contains` for second t, worked out once a UTC minute (the replay
    asks every second): both change only on whole local minutes, since a window's edges are
    HH:MM, and a UTC minute is one local minute where its UTC offset is whole minutes and the
    same at both its ends (every zone since 1972). Any other minute is worked out second by
    second."""

    def __init__(self, window: Window):
        self.window = window
        self.whole_minutes = all(edge.second == 0 and edge.microsecond == 0 for edge in (window.start, window.end))
        self.minute: int | None = None
        self.answer: tuple[date, bool] | None = None  # the whole minute's (night, inside), when it has one

    def __call__(self, t: int) -> tuple[date, bool]:
        minute = t // 60
        if minute != self.minute:
            self.minute = minute
            self.answer = self._whole_minute(minute * 60) if self.whole_minutes else None
        if self.answer is None:
            return night_of(t, self.window), self.window.contains(instant(t))
        return self.answer

    def _whole_minute(self, first: int) -> tuple[date, bool] | None:
        offset = instant(first).astimezone(self.window.tz).utcoffset()
        if offset is None or offset.total_seconds() % 60 or instant(first + 59).astimezone(self.window.tz).utcoffset() != offset:
            return None
        return night_of(first, self.window), self.window.contains(instant(first))


class Ledger:
    """The nights' accounts, kept second by second from what the loop hands it."""

    def __init__(self, policy: str, window: Window, step_seconds: float, total_bytes: int, floor_bytes: int, realtime_factor: float = 1.0):
        self.policy = policy
        self.window = window
        self.step_seconds = step_seconds
        self.total_bytes = total_bytes  # the real card, whatever the policy assumes
        self.floor_bytes = floor_bytes
        self.realtime_factor = realtime_factor
        self.nights: dict[date, NightSummary] = {}
        self.residents = 0
        self.by_pod_active: dict[tuple[str, str], bool] = {}
        self.previous_queued: int | None = None
        # Bake seconds by (night, life, stretch of serving), in the order they were baked.
        self.stretches: dict[tuple[date, int, int], int] = defaultdict(int)
        self.local = LocalMinutes(window)

    def night(self, t: int) -> NightSummary:
        key = self.local(t)[0]
        if key not in self.nights:
            self.nights[key] = NightSummary(key.isoformat(), self.policy)
        return self.nights[key]

    def scraped(self, t: int, snapshot: Snapshot, previous: Snapshot | None) -> None:
        """A new snapshot of the trace at t: the residents' truth, and any outage or wake it ends."""
        if previous is not None and self.window.contains(snapshot.time):
            gap = (snapshot.time - previous.time).total_seconds()
            if gap > self.step_seconds:
                self.night(t).outages += 1
        self.residents = sum(p.used_bytes for p in snapshot.pods)
        now_active = {(p.namespace, p.pod): p.used_bytes >= WAKE_THRESHOLD_BYTES for p in snapshot.pods}
        if self.window.contains(snapshot.time):
            wakes = sum(1 for key, active in now_active.items() if active and not self.by_pod_active.get(key, False))
            if wakes and previous is not None:
                self.night(t).wakes += wakes
        self.by_pod_active = now_active

    def fired(self, t: int, job_pods: int) -> None:
        if job_pods:
            self.night(t).job_pods += job_pods

    def acted(self, t: int, replicas: int, reason: str) -> None:
        """The gate acted at t, for `reason`: an entry, a park or an unpark (at 1 replica), a
        yield (at 0)."""
        summary = self.night(t)
        if replicas >= 1:
            if reason == Reason.PARKED.value:
                summary.parks += 1
            elif reason == Reason.UNPARKED.value:
                summary.unparks += 1
            else:
                summary.entries += 1
        elif reason in (Reason.NO_ROOM.value, Reason.BLIND.value):
            summary.yields += 1
        elif reason == Reason.OVER_BUDGET.value:
            summary.over_budget += 1

    def second(self, t: int, world: World, replicas: int) -> None:
        """Second t's accounts, once its commands have run."""
        room = self.total_bytes - self.residents >= self.floor_bytes
        own = world.own_bytes(t)
        holds = own > 0
        night, in_window = self.local(t)
        queued = world.queued(t)
        if queued == 0 and (self.previous_queued or 0) > 0:  # the queue drained: an empty stretch begins
            self.night(t).empty_stretches += 1
        self.previous_queued = queued
        if queued == 0 and replicas >= 1:
            self.night(t).held_idle_seconds += 1
        # With a queue, the card is worth holding when work waits, at any hour.
        wanted = (queued or 0) > 0 if world.demand is not None else in_window
        if wanted or holds:
            summary = self.night(t)
            if wanted and room:
                summary.oracle_seconds += 1
                stretch = world.baking(t)
                if stretch is not None:
                    summary.bake_seconds += 1
                    self.stretches[(night, *stretch)] += 1
            if holds and world.parked(t):
                summary.parked_seconds += 1
                pod = world.pod
                if self.total_bytes - self.residents < pod.residue_bytes + max(0, self.floor_bytes - pod.peak_bytes):
                    summary.parked_outside_rule_seconds += 1
            elif holds and not room:
                summary.breach_seconds += 1
            if holds and self.residents + own > self.total_bytes:
                summary.conflict_seconds += 1
            if holds and world.exporter.answers_empty(t):
                summary.held_empty_seconds += 1

    def summaries(self) -> list[NightSummary]:
        """The nights, their narration counted from the stretches baked (module docstring)."""
        made: dict[int, int] = defaultdict(int)  # chunks each life's process has made, unfixed
        for (night, life, _), seconds in self.stretches.items():
            summary = self.nights[night]
            summary.audio_seconds += chunks_made(seconds, self.realtime_factor) * CHUNK_AUDIO_SECONDS
            chunks = chunks_made(seconds, self.realtime_factor, made[life], leaking=True)
            made[life] += chunks
            summary.audio_seconds_unfixed += chunks * CHUNK_AUDIO_SECONDS
        return [self.nights[key] for key in sorted(self.nights)]
