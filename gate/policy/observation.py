"""What the gate sees: the readings its sources return (`Reading`, `Blind`, `Demand`) and what it
makes of them at one instant (`assess` -> `View`): residents, its own use, the card's total,
blindness. Pure: the sources (`gate.sources`) fetch and parse, this decides what a reading means.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime

from gate.policy.settings import Settings
from gate.policy.state import TRY_CLOCK_SLACK_SECONDS, TRY_LONGEST_SECONDS, TRY_UNTIL, GateState
from gate.units import format_duration, format_instant, format_size

# An idle card reports a few MiB in use (or none); any process with a CUDA context holds 100 MiB
# or more. Under this, a device agrees that an empty per-pod answer is an idle card; whatever
# the slack lets through is still counted, from the device's own figure.
DEVICE_IDLE_SLACK_BYTES = 256 * 2**20


@dataclass(frozen=True)
class PodUsage:
    namespace: str
    pod: str
    used_bytes: int


@dataclass(frozen=True)
class DeviceReading:
    """A device-level exporter's figures for the one card: the second opinion."""

    total_bytes: int
    used_bytes: int  # memory processes hold (contexts included)
    reserved_bytes: int = 0  # held back by the driver: not free, but no process's
    sampled_at: datetime | None = None

    @property
    def unavailable_bytes(self) -> int:
        return self.used_bytes + self.reserved_bytes


@dataclass(frozen=True)
class Reading:
    """What a metrics source saw: per-pod usage, and device figures where it has them.

    `unattributed_bytes` is memory the source sees but cannot put on a pod (a device-level
    exporter, or processes it cannot map): it counts as a resident's, but for the own pod's
    start-up (see `assess`).
    """

    pods: tuple[PodUsage, ...] = ()
    unattributed_bytes: int = 0
    device_total_bytes: int | None = None
    sampled_at: datetime | None = None  # None: as fresh as the answer (exporters rarely stamp samples)
    # A per-process source that answered with its family and not one process: an idle card, or
    # the exporter's nvidia-smi failed. Which one is `assess`'s question, not the source's.
    empty: bool = False
    # False for device-level sources (dcgm, nvidia-smi): no memory is ever put on a pod.
    attributes: bool = True
    device: DeviceReading | None = None  # the second opinion, when one is configured


@dataclass(frozen=True)
class Blind:
    """The source could not be read or its answer cannot be trusted."""

    reason: str


Observation = Reading | Blind

# The server's states as its control port names them (docker/tts_layer/states.py).
SERVER_PHASES = ("serving", "parking", "parked", "unparking", "failed")


@dataclass(frozen=True)
class ServerState:
    """The server as its control port answered (`GET /state`), or why it could not (`phase` None)."""

    phase: str | None
    since: datetime | None = None  # when that state began, on the server's clock
    reserved_bytes: int | None = None  # what its allocator holds on the card (the CUDA context not included); None: no CUDA
    problem: str | None = None

    def __str__(self) -> str:
        return self.phase if self.phase is not None else f"unreadable ({self.problem})"


@dataclass(frozen=True)
class ParkReport:
    """What the server answered to a park or an unpark it carried out."""

    seconds: float  # asked to done, as the server timed it
    reserved_bytes: int | None = None  # its allocator's hold on the card after it (None: no CUDA)
    already: bool = False  # it was parked (serving) already: nothing moved


@dataclass(frozen=True)
class Demand:
    """What the demand probe read: the work queued, or why it could not tell (None). A failed
    probe carries the last count the same probe read and how long ago, where it has one."""

    queued: int | None
    problem: str | None = None
    last_queued: int | None = None
    last_age_seconds: float | None = None

    def __str__(self) -> str:
        return f"{self.queued} queued" if self.queued is not None else f"demand unknown ({self.problem})"

    def work(self, recent_seconds: float) -> bool | None:
        """Is work waiting? The count when there is one; after a failed probe, the last count if
        it is recent (a failed probe changes nothing); else unknown (None)."""
        if self.queued is not None:
            return self.queued > 0
        if self.last_queued is not None and self.last_age_seconds is not None and self.last_age_seconds <= recent_seconds:
            return self.last_queued > 0
        return None


@dataclass(frozen=True)
class View:
    """What the gate makes of an observation at one instant."""

    now: datetime
    in_window: bool
    blind_reason: str | None = None
    total_bytes: int | None = None
    residents: tuple[PodUsage, ...] = ()
    own: tuple[PodUsage, ...] = ()
    unattributed_bytes: int = 0  # counted as residents'
    # Unattributed memory presumed the own pod's (its start-up, or growth a device-level source
    # cannot attribute): excluded from the residents.
    presumed_own_bytes: int = 0
    # What the primary source could not attribute, before any presumption or device figure:
    # recorded at entry as the baseline of the start-up grace.
    source_unattributed_bytes: int = 0
    # How far this process's wall clock moved against its monotonic clock since its previous
    # look, past the caller's tolerance (one interval); 0: none seen, or no previous look. A jump
    # makes every stored timer restart as a wake would (see `gate.policy.rules.timer_restart`).
    clock_jump_seconds: float = 0.0
    # A try in force (`gate try`): its end, until which `in_window` holds at any hour (`open_try`).
    try_until: datetime | None = None
    # Why a stored try is not honoured (unreadable, or further ahead than any try is long).
    try_ignored: str | None = None

    @property
    def clock_jumped(self) -> bool:
        return self.clock_jump_seconds != 0

    @property
    def blind(self) -> bool:
        return self.blind_reason is not None

    @property
    def resident_bytes(self) -> int:
        return sum(p.used_bytes for p in self.residents) + self.unattributed_bytes

    @property
    def own_bytes(self) -> int:
        return sum(p.used_bytes for p in self.own) + self.presumed_own_bytes

    @property
    def free_bytes(self) -> int | None:
        """What the card offers the TTS pod: total minus the residents (our own use excluded)."""
        if self.blind or self.total_bytes is None:
            return None
        return self.total_bytes - self.resident_bytes


# Kubernetes writes the pod-template hash and the pod suffix in this vowel-free alphabet.
_KUBE_ALPHABET = "[bcdfghjklmnpqrstvwxz2456789]"


def own_pod_pattern(deployment: str) -> re.Pattern[str]:
    """Pods of a Deployment are named `<deployment>-<pod-template hash>-<5 characters>`."""
    return re.compile(rf"^{re.escape(deployment)}-{_KUBE_ALPHABET}{{1,10}}-{_KUBE_ALPHABET}{{5}}$")


def is_own(usage: PodUsage, settings: Settings) -> bool:
    return usage.namespace == settings.namespace and bool(own_pod_pattern(settings.deployment).match(usage.pod))


def assess(
    observation: Observation, settings: Settings, now: datetime, state: GateState | None = None, clock_jump_seconds: float = 0.0
) -> View:
    """Turn what a source saw into the gate's view: residents, own use, total, blindness.

    `state` is the Deployment as last read: while the gate holds the card it says what the card
    looked like at entry, which lets start-up memory the source cannot yet attribute be ours.
    `clock_jump_seconds` is the caller's finding about its own clock (see `View`), carried along.
    """
    view = _assess(observation, settings, now, state)
    if clock_jump_seconds:
        view = replace(view, clock_jump_seconds=clock_jump_seconds)
    trying, ignored = open_try(state, now)
    if trying is not None or ignored is not None:
        # A try widens the window and nothing else: every other rule reads the view as it is.
        view = replace(view, in_window=view.in_window or trying is not None, try_until=trying, try_ignored=ignored)
    return view


def open_try(state: GateState | None, now: datetime) -> tuple[datetime | None, str | None]:
    """The try in force at `now` (its end), or None; and why a stored one is ignored, if it is.

    The try's end is a wall-clock instant, read as the window is: on the wall clock, with no
    timer behind it to restart. What keeps it sane is its bound: no try is longer than
    TRY_LONGEST_SECONDS, so an end further ahead than that (and a slack for the writer's clock)
    was never asked for, and is ignored: the residents' side. One that has passed is simply over."""
    if state is None:
        return None, None
    if state.try_unreadable is not None:
        return None, f"the Lease's {TRY_UNTIL} value {state.try_unreadable[:60]!r} is not an RFC 3339 instant (ignored)"
    if state.try_until is None or state.try_until <= now:
        return None, None
    ahead = (state.try_until - now).total_seconds()
    if ahead > TRY_LONGEST_SECONDS + TRY_CLOCK_SLACK_SECONDS:
        return None, (
            f"the Lease's {TRY_UNTIL} {format_instant(state.try_until)} is {format_duration(ahead)} ahead, more than a try "
            f"lasts ({format_duration(TRY_LONGEST_SECONDS)}; ignored)"
        )
    return state.try_until, None


def _assess(observation: Observation, settings: Settings, now: datetime, state: GateState | None) -> View:
    in_window = settings.window.contains(now) if settings.window else True
    if isinstance(observation, Blind):
        return View(now=now, in_window=in_window, blind_reason=observation.reason)

    reading = observation
    device = reading.device
    totals = [t for t in (settings.total_bytes, reading.device_total_bytes, device.total_bytes if device else None) if t is not None]
    total = min(totals) if totals else None  # two figures that differ: the smaller is the safe one
    empty_problem = _empty_answer(reading, settings)
    if empty_problem:
        return View(now=now, in_window=in_window, blind_reason=empty_problem)
    residents = tuple(p for p in reading.pods if not is_own(p, settings))
    own = tuple(p for p in reading.pods if is_own(p, settings))
    own_attributed = sum(p.used_bytes for p in own)
    presumed = _presumed_own(reading, settings, state, now, own_attributed)
    unattributed = reading.unattributed_bytes - presumed
    if device is not None:
        # Memory the device sees held that the per-pod figures put on nobody else: count it.
        missed = device.unavailable_bytes - own_attributed - presumed - (sum(p.used_bytes for p in residents) + unattributed)
        unattributed += max(0, missed)
    view = View(
        now=now,
        in_window=in_window,
        total_bytes=total,
        residents=residents,
        own=own,
        unattributed_bytes=unattributed,
        presumed_own_bytes=presumed,
        source_unattributed_bytes=reading.unattributed_bytes,
    )
    problem = _implausible(view, reading, settings, now)
    if problem:
        return View(now=now, in_window=in_window, blind_reason=problem)
    return view


def _empty_answer(reading: Reading, settings: Settings) -> str | None:
    """Why an empty per-process answer cannot be read as an idle card, or None when it can."""
    if not reading.empty or settings.empty_is_idle:
        return None
    device = reading.device
    if device is None:
        return (
            "the exporter lists no GPU process: an idle card or a failed nvidia-smi "
            "(set GATE_EMPTY_IS_IDLE=true where the card really idles, or add GATE_DEVICE_SOURCE)"
        )
    if device.used_bytes > DEVICE_IDLE_SLACK_BYTES:
        return (
            f"the exporter lists no GPU process but the device reports {format_size(device.used_bytes)} in use: "
            "the exporter's nvidia-smi is failing"
        )
    return None


def _presumed_own(reading: Reading, settings: Settings, state: GateState | None, now: datetime, own_attributed: int) -> int:
    """Unattributed memory that is the own pod's while it holds the card, bounded both ways."""
    if state is None or state.replicas < 1 or state.entered_at is None or state.entry_unattributed_bytes is None:
        return 0
    grown = max(0, reading.unattributed_bytes - state.entry_unattributed_bytes)
    if not reading.attributes:
        # Nothing is ever attributed: growth since entry up to the server's peak is the server,
        # and once it has settled into a park, up to the residue a park may keep.
        return min(grown, settings.own_peak_bytes if not parked_settled(state, settings, now) else parked_residue_bound(settings))
    since = (now - state.entered_at).total_seconds()
    if not 0 <= since < settings.startup_grace_seconds:
        return 0
    # The exporter has not labelled the new container yet: up to the floor (the server's whole
    # budget) of what appeared since entry is the server's.
    return min(grown, max(0, settings.floor_bytes - own_attributed))


def _implausible(view: View, reading: Reading, settings: Settings, now: datetime) -> str | None:
    if view.total_bytes is None:
        return "the source reports no device total and none is configured (set GATE_TOTAL)"
    for sampled_at in (reading.sampled_at, reading.device.sampled_at if reading.device else None):
        if sampled_at is None:
            continue
        age = (now - sampled_at).total_seconds()
        if age > settings.max_age_seconds:
            return f"the metrics are stale: sampled {format_duration(age)} ago, more than {format_duration(settings.max_age_seconds)}"
        if age < -settings.max_age_seconds:
            # A clock that jumped, here or on the exporter: the figures' time cannot be trusted.
            return f"the metrics are dated {format_duration(-age)} in the future: the clocks disagree"
    used = view.resident_bytes + view.own_bytes
    if used > view.total_bytes:
        # More than the card holds: a wrong unit or a wrong total, never something to act on.
        return f"the sources report {format_size(used)} in use on a card of {format_size(view.total_bytes)}; wrong unit or wrong total?"
    return None


def parked_residue_bound(settings: Settings) -> int:
    """What a parked server may keep on the card (its setting; parking off: nothing)."""
    return settings.park.residue_bytes if settings.park is not None else 0


def parked_settled(state: GateState, settings: Settings, now: datetime) -> bool:
    """Parked long enough that every reading the gate accepts was taken after the park: a reading
    may be up to max-age old, so before that the source may still show the server serving."""
    if not state.parked or state.parked_at is None:
        return False
    return (now - state.parked_at).total_seconds() >= settings.max_age_seconds


def headroom_bytes(settings: Settings) -> int:
    """The floor's headroom above the server's peak, which a parked server leaves too."""
    return max(0, settings.floor_bytes - settings.own_peak_bytes)


def residue_counted(view: View, state: GateState, settings: Settings) -> int:
    """The residue the parked rule counts: measured once the park has settled and the source
    puts memory on the server's pod (the exporter's reading of it); else its setting, the most a
    park may keep (before the exporter has seen the park, and for sources that attribute nothing,
    whose growth since entry is presumed the server's only up to it)."""
    if parked_settled(state, settings, view.now) and view.own:
        return sum(p.used_bytes for p in view.own)
    return parked_residue_bound(settings)


def has_parked_room(view: View, settings: Settings, residue_bytes: int) -> bool:
    """The parked rule: total - residents >= residue + (floor - peak)."""
    free = view.free_bytes
    return free is not None and free >= residue_bytes + headroom_bytes(settings)


def has_room(view: View, settings: Settings, margin_bytes: int = 0) -> bool:
    free = view.free_bytes
    return free is not None and free >= settings.floor_bytes + margin_bytes


__all__ = [
    "DEVICE_IDLE_SLACK_BYTES",
    "SERVER_PHASES",
    "Blind",
    "Demand",
    "DeviceReading",
    "Observation",
    "ParkReport",
    "PodUsage",
    "Reading",
    "ServerState",
    "View",
    "assess",
    "has_parked_room",
    "has_room",
    "headroom_bytes",
    "is_own",
    "open_try",
    "own_pod_pattern",
    "parked_residue_bound",
    "parked_settled",
    "residue_counted",
]
