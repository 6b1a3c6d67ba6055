"""The gate's decisions, as plain functions over plain data.

Nothing here opens a socket or reads a clock: the live commands and `gate replay` call the same
functions with what they saw and when. The rules, in the residents' favour every time:

- Residents are every GPU user except the TTS Deployment's own pods, so holding the card never
  counts against itself. The card has room when `total - residents >= floor`, the same test in
  preflight and guard.
- Blind (metrics unreachable, unparseable, stale, implausible, the family missing): preflight
  never takes the card, and guard, holding it, yields. A per-process exporter that lists no
  process at all is blind too, unless the operator says an idle card is normal or a device-level
  source agrees the card is idle: the owner's exporter answers exactly so when its `nvidia-smi`
  fails.
- A device-level second opinion (dcgm, nvidia-smi) read beside a per-pod source: residents are
  the larger of what the per-pod source puts on others and the device's used memory minus our
  own; its total is the card's. Memory the per-pod figures miss (a frozen or failing exporter)
  still counts.
- Our own pod's start-up: the exporter labels a new container `unknown` until its pod cache
  refreshes (up to ~75 s). For a bounded grace after entry, unattributed memory that appeared
  since the entry, up to the floor, is presumed ours; anything beyond, and any attributed
  resident's growth, still counts. With a source that attributes nothing (dcgm or nvidia-smi
  alone), growth since entry up to the server's known peak is presumed ours while it holds.
- After a yield, re-entry waits until the card has had room, with a margin above the floor, for
  a cool-down that adapts: short after an isolated wake, doubling (up to a cap) while yields keep
  cutting entries short, back to short after a hold that lasted. That memory, and what the card
  looked like at entry, lives in annotations on the gate's Lease, so every run of the gate
  (controller, CronJob or sidecar) sees it.
- The state is written before an entry acts (the intent) and after a yield acts (residents
  first). A card given back whose yield was never written (a crash, an API outage between the
  two writes) still reads as a yield: the Lease says the gate entered, and the Deployment has
  been scaled since (its generation moved past the one recorded with the entry).
- The server's budget is the floor: holding the card past the start-up grace, its own memory
  above the floor (less a slack) is a yield (`over-budget`); after a second one the gate does not
  take the card again that night.
- The window is read on the local wall clock of the configured time zone. No entry in its last
  minutes (the entry margin), when the server could not start before the window ends.
- Paused (`enabled: false` in the settings, or the Lease's `tts.gate/paused` set by `gate
  pause`; either is enough): every decider checks it first. Nothing takes the card, and what
  holds it gives it back, without a cool-down (a pause is not a resident's wake). A pause value
  the gate cannot read pauses too, and every decision says so (`read_switch`).
- Demand (tripit's queue), when configured: the card is taken only with work waiting, at any
  hour demand may take it, and given back once an explicit 0 has held for `idle_after`, even
  inside the window. A probe that fails in any way is no action: it never idles the server and
  never counts as work; inside the window an unknown demand falls back to the window rule. A
  resident's need always wins over waiting work.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from gate.units import Window, format_duration, format_instant, format_size, parse_instant

# The gate's memory between runs, kept in the annotations of its Lease.
YIELDED_AT = "tts.gate/yielded-at"
ROOM_SINCE = "tts.gate/room-since"
ENTERED_AT = "tts.gate/entered-at"
# When the demand probe first read an explicit 0 while the server held the card.
IDLE_SINCE = "tts.gate/idle-since"
# Memory the source could not put on a pod when the gate took the card: the baseline against
# which the own pod's still-unlabelled start-up memory is told apart.
ENTRY_UNATTRIBUTED = "tts.gate/entry-unattributed-bytes"
# The Deployment's metadata.generation when the entry was decided: scaling changes it, so a
# later generation with no replicas means the card was taken and given back since.
ENTRY_GENERATION = "tts.gate/entry-generation"
# Yields in a row that each cut an entry short: the cool-down doubles with each (see `cooldown`).
YIELD_STREAK = "tts.gate/yield-streak"
# Over-budget yields tonight, and when the last one was: two bar the card until the night ends.
OVER_BUDGET_YIELDS = "tts.gate/over-budget-yields"
OVER_BUDGET_AT = "tts.gate/over-budget-at"
# The Lease's pause switch (`gate pause` / `gate resume`): on pauses the gate as `enabled: false`
# in its settings does. The gate's own writes never touch it. Read by `read_switch`.
PAUSED = "tts.gate/paused"
# What operators write for on and off (compared case-insensitively, spaces stripped).
SWITCH_ON = ("true", "yes", "1")
SWITCH_OFF = ("false", "no", "0")
# Timestamps: when two writers disagree, the later one stands (see `merge_state`).
INSTANTS = (YIELDED_AT, ROOM_SINCE, ENTERED_AT, IDLE_SINCE, OVER_BUDGET_AT)
COUNTS = (YIELD_STREAK, OVER_BUDGET_YIELDS)
STATE_KEYS = frozenset(
    {YIELDED_AT, ROOM_SINCE, ENTERED_AT, IDLE_SINCE, ENTRY_UNATTRIBUTED, ENTRY_GENERATION, YIELD_STREAK, OVER_BUDGET_YIELDS, OVER_BUDGET_AT}
)

# A hold shorter than this was cut short: the server needs ~45 s to start and ~60 s to load, so it
# baked two or three minutes at most, while the resident that returned met it on the card. A yield
# after a shorter hold is a repeat (the cool-down doubles); after a longer one, an isolated wake.
SHORT_HOLD_SECONDS = 300.0
# The budget's slack: the guard yields once the server's own memory exceeds the floor less this.
# Less, not plus: the floor is the promise that `card - floor` stays the residents'. The gate acts
# on readings up to one 15-s collection and one 10-s interval old, and the release takes 15 s
# more, so a server caught at the floor is past it before its memory is freed; yielding a little
# before the floor keeps the promise. 256 MiB is 4 % of the default floor, and no normal bake comes
# near it: `gate measure` sets the floor at the measured peak plus 2 GiB, so a server at the floor
# less 256 MiB has outgrown its peak by 1.75 GiB (a model switched in the settings UI, the
# allocator's reserve grown on long chunks).
OVER_BUDGET_SLACK_BYTES = 256 * 2**20
# How many over-budget yields bar re-entry for the rest of the night.
OVER_BUDGET_LIMIT = 2
# "The night" of the over-budget bar: the window's end clears it (window-down, the guard's
# out-of-window yield, `gate down`); with no window (demand at any hour) nothing ends a night, so
# the bar lifts this long after the last over-budget yield: long enough to keep the server off
# the card through a night's bake and its retries, short enough that tomorrow's bake runs.
OVER_BUDGET_NIGHT_SECONDS = 12 * 3600.0

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
class DemandSettings:
    idle_after_seconds: float = 300.0
    window: Window | None = None  # the hours demand may take the card; None: any time


@dataclass(frozen=True)
class Settings:
    namespace: str
    deployment: str
    floor_bytes: int
    total_bytes: int | None = None  # the operator's figure; else the device's
    window: Window | None = None
    # After a yield, re-entry waits this long with room: the first cool-down, which doubles with
    # each yield that cut an entry short, up to `cooldown_max_seconds` (below `stable_seconds`:
    # a fixed cool-down).
    stable_seconds: float = 10.0
    cooldown_max_seconds: float = 120.0
    # After a yield, re-entry also needs this much more than the floor: a resident whose usage
    # jitters across the floor must not pull the server in and out.
    hysteresis_bytes: int = 512 * 2**20
    max_age_seconds: float = 60.0
    # An exporter listing no GPU process is an idle card only when the operator says so here.
    empty_is_idle: bool = False
    # How long after entry unlabelled new memory may be the own pod's: the pod's start (~45 s),
    # the exporter's 60 s pod cache and one 15 s collection, with a minute to spare.
    startup_grace_seconds: float = 180.0
    # The server's GPU peak: with a source that attributes nothing, growth since entry up to
    # this is presumed the server's own while it holds the card.
    own_peak_bytes: int = int(4.5 * 2**30)
    # No entry closer than this to the window's end: a start (~45 s) and a model load would not
    # finish before window-down takes the card back.
    entry_margin_seconds: float = 300.0
    demand: DemandSettings | None = None  # None: no demand probe, the window alone decides
    # false pauses the gate (the settings' switch; the Lease's is `GateState.paused`).
    enabled: bool = True


@dataclass(frozen=True)
class GateState:
    """The Deployment's desired replicas and the gate's state from its Lease, as one run read them."""

    replicas: int
    yielded_at: datetime | None = None
    room_since: datetime | None = None
    entered_at: datetime | None = None
    entry_unattributed_bytes: int | None = None
    idle_since: datetime | None = None
    # None: absent or unreadable. After a yield that is the longest cool-down (`cooldown`).
    yield_streak: int | None = None
    over_budget_yields: int = 0  # absent or unreadable, or without a readable time: none
    over_budget_at: datetime | None = None
    generation: int | None = None  # the Deployment's metadata.generation as read
    entry_generation: int | None = None
    # The yield was carried out but never written: see `from_annotations`.
    yield_unrecorded: bool = False
    paused: bool = False  # the Lease's pause switch is on (`gate pause`), or unreadable
    # The pause annotation's value when it is neither on nor off: it pauses (see `read_switch`).
    pause_unreadable: str | None = None

    @classmethod
    def from_annotations(cls, replicas: int, annotations: Mapping[str, str], generation: int | None = None) -> GateState:
        """Read the state annotations; an unreadable one is ignored (treated as absent).

        An entry recorded, no replicas and no yield recorded: if the Deployment has been scaled
        since the entry (its generation moved on), the card was held and given back by a run that
        could not write its yield (killed, or the API failed between the two writes). It reads
        as a yield at the entry's time, so the cool-down applies as it would have. If the
        generation has not moved, the entry's intent was written and never carried out: it is
        ignored, and the next preflight decides as if it had never been written.
        """

        def instant(key: str) -> datetime | None:
            try:
                return parse_instant(annotations[key]) if key in annotations else None
            except ValueError:
                return None

        def count(key: str) -> int | None:
            text = annotations.get(key, "")
            return int(text) if text.isascii() and text.isdigit() else None

        yielded_at, entered_at = instant(YIELDED_AT), instant(ENTERED_AT)
        entry_generation = count(ENTRY_GENERATION)
        streak = count(YIELD_STREAK)
        over_budget_at = instant(OVER_BUDGET_AT)
        # A count without its time could never expire (no window ends a demand-only night): none.
        over_budget = (count(OVER_BUDGET_YIELDS) or 0) if over_budget_at is not None else 0
        unrecorded = False
        switch = read_switch(annotations.get(PAUSED))
        if replicas < 1 and entered_at is not None and yielded_at is None:
            # Without both generations the entry's fate is unknown: a yield is the safe reading.
            moved = generation is None or entry_generation is None or generation > entry_generation
            if moved:
                # The hold's length is unknown: count it as cut short, as the recorded yield would
                # have after a short hold (after a long one, this errs on the residents' side).
                yielded_at, unrecorded = entered_at, True
                streak = (streak or 0) + 1
        return cls(
            replicas=replicas,
            yielded_at=yielded_at,
            room_since=instant(ROOM_SINCE),
            entered_at=entered_at,
            entry_unattributed_bytes=count(ENTRY_UNATTRIBUTED),
            idle_since=instant(IDLE_SINCE),
            yield_streak=streak if streak else None,
            over_budget_yields=over_budget,
            over_budget_at=over_budget_at,
            generation=generation,
            entry_generation=entry_generation,
            yield_unrecorded=unrecorded,
            paused=switch is not False,
            pause_unreadable=annotations[PAUSED] if switch is None else None,
        )


def read_switch(value: str | None) -> bool | None:
    """The pause annotation: True (on: true/yes/1), False (off: false/no/0, or absent), None
    (anything else). An unreadable value pauses: it was most likely written to pause (nobody
    writes the annotation to keep the gate running), and a pause that is ignored keeps taking the
    card from the residents, while a resume that is not understood costs only bake minutes, and
    says so in `gate status` and the decisions' Events."""
    if value is None:
        return False
    text = value.strip().lower()
    return True if text in SWITCH_ON else False if text in SWITCH_OFF else None


def merge_state(fresh: Mapping[str, str], changes: Mapping[str, str | None], read: Mapping[str, str]) -> dict[str, str]:
    """This run's `changes` (None removes a key) merged into what another writer has just put in
    the Lease (`fresh`); `read` is the Lease as this run read it before deciding.

    Another writer's work is never undone: a key it set or changed since `read` is not removed,
    of two timestamps the later stands (a newer yield keeps its cool-down, a newer entry its
    start-up grace) and of two counts the larger. Everything else is this run's change.
    """
    merged = dict(fresh)
    for key, value in changes.items():
        theirs = fresh.get(key)
        changed_since = theirs != read.get(key)
        if value is None:
            if not changed_since:
                merged.pop(key, None)
            continue
        if key in INSTANTS and theirs is not None and changed_since:
            try:
                if parse_instant(theirs) >= parse_instant(value):
                    continue
            except ValueError:
                pass  # theirs is unreadable: ours replaces it
        if key in COUNTS and theirs is not None and changed_since and theirs.isdigit() and value.isdigit() and int(theirs) >= int(value):
            continue  # of two counts the larger stands: the longer cool-down, the nearer bar
        merged[key] = value
    return merged


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


class Reason(StrEnum):
    """Why a command did what it did; also the Event reason suffix and the metric label."""

    ENTERED = "entered"
    ALREADY_UP = "already-up"
    OUT_OF_WINDOW = "out-of-window"
    NO_ROOM = "no-room"
    BLIND = "blind"
    COOLING_DOWN = "cooling-down"
    HOLDING = "holding"
    NOT_HOLDING = "not-holding"
    WINDOW_END = "window-end"
    ALREADY_DOWN = "already-down"
    WINDOW_ENDING = "window-ending"  # preflight: too close to the window's end to start
    NO_WORK = "no-work"  # preflight: the demand probe read an explicit 0
    IDLE = "idle"  # guard: the queue has been empty for idle-after
    DISABLED = "disabled"  # the kill switch: the card is given back and never taken
    # guard: the server's own memory outgrew the floor; preflight: two such yields tonight
    OVER_BUDGET = "over-budget"


@dataclass(frozen=True)
class Decision:
    command: str
    reason: Reason
    message: str
    replicas: int | None = None  # the replicas to set; None leaves them alone
    annotations: Mapping[str, str | None] = field(default_factory=dict)  # None removes a key

    @property
    def refused(self) -> bool:
        """A preflight that could have taken the card and did not."""
        return self.command == "preflight" and self.reason not in (Reason.ENTERED, Reason.ALREADY_UP)


# Kubernetes writes the pod-template hash and the pod suffix in this vowel-free alphabet.
_KUBE_ALPHABET = "[bcdfghjklmnpqrstvwxz2456789]"


def own_pod_pattern(deployment: str) -> re.Pattern[str]:
    """Pods of a Deployment are named `<deployment>-<pod-template hash>-<5 characters>`."""
    return re.compile(rf"^{re.escape(deployment)}-{_KUBE_ALPHABET}{{1,10}}-{_KUBE_ALPHABET}{{5}}$")


def is_own(usage: PodUsage, settings: Settings) -> bool:
    return usage.namespace == settings.namespace and bool(own_pod_pattern(settings.deployment).match(usage.pod))


def assess(observation: Observation, settings: Settings, now: datetime, state: GateState | None = None) -> View:
    """Turn what a source saw into the gate's view: residents, own use, total, blindness.

    `state` is the Deployment as last read: while the gate holds the card it says what the card
    looked like at entry, which lets start-up memory the source cannot yet attribute be ours.
    """
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
        # Nothing is ever attributed: growth since entry up to the server's peak is the server.
        return min(grown, settings.own_peak_bytes)
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


def has_room(view: View, settings: Settings, margin_bytes: int = 0) -> bool:
    free = view.free_bytes
    return free is not None and free >= settings.floor_bytes + margin_bytes


def _room_text(view: View, settings: Settings) -> str:
    presumed = f"; {format_size(view.presumed_own_bytes)} unlabelled presumed the server's" if view.presumed_own_bytes else ""
    return (
        f"free {format_size(view.free_bytes)} (total {format_size(view.total_bytes)} - residents "
        f"{format_size(view.resident_bytes)}{presumed}) vs floor {format_size(settings.floor_bytes)}"
    )


def _window_text(settings: Settings) -> str:
    return str(settings.window) if settings.window else "no window"


def cleared(state: GateState) -> dict[str, str | None]:
    """Annotation changes that remove whatever cool-down state is set. What counts across the
    night (the yield streak, the over-budget yields) stays: see `_night_cleared`."""
    present = {
        YIELDED_AT: state.yielded_at,
        ROOM_SINCE: state.room_since,
        ENTERED_AT: state.entered_at,
        ENTRY_UNATTRIBUTED: state.entry_unattributed_bytes,
        ENTRY_GENERATION: state.entry_generation,
        IDLE_SINCE: state.idle_since,
    }
    return {key: None for key, value in present.items() if value is not None}


def _night_cleared(state: GateState) -> dict[str, str | None]:
    """The night is over (the window's end, `down`, the kill switch): a clean slate."""
    # The over-budget count is read only beside its time: the time says whether both are set.
    night = {YIELD_STREAK: state.yield_streak, OVER_BUDGET_YIELDS: state.over_budget_at, OVER_BUDGET_AT: state.over_budget_at}
    return {**cleared(state), **{key: None for key, value in night.items() if value is not None}}


def _streak_cap(settings: Settings) -> int:
    """The streak at which the cool-down reaches its cap: doubling further changes nothing."""
    streak = 1
    while settings.stable_seconds > 0 and settings.stable_seconds * 2 ** (streak - 1) < settings.cooldown_max_seconds:
        streak += 1
    return streak


def cooldown(state: GateState, settings: Settings) -> float:
    """How long re-entry after the last yield waits with room: the first cool-down doubled for
    each yield in a row that cut an entry short, up to the cap. A streak that cannot be read
    after a yield is the longest."""
    longest = max(settings.stable_seconds, settings.cooldown_max_seconds)
    if state.yield_streak is None:
        return longest
    streak = min(state.yield_streak, _streak_cap(settings))  # a huge one read back: no overflow
    return max(settings.stable_seconds, min(settings.cooldown_max_seconds, settings.stable_seconds * 2 ** (streak - 1)))


def yield_changes(state: GateState, settings: Settings, now: datetime) -> dict[str, str | None]:
    """A yield's state: its time, and the streak. A hold shorter than SHORT_HOLD_SECONDS (or of
    unknown length) continues the streak; a longer one was a quiet stretch, and starts it anew."""
    held = (now - state.entered_at).total_seconds() if state.entered_at is not None else None
    short = held is None or held < SHORT_HOLD_SECONDS  # a clock that jumped back: short too
    streak = min((state.yield_streak or 0) + 1, _streak_cap(settings)) if short else 1
    return {**cleared(state), YIELDED_AT: format_instant(now), YIELD_STREAK: str(streak)}


def barred(state: GateState, now: datetime) -> bool:
    """Two over-budget yields tonight: the card is not taken again until the night ends."""
    return over_budget_tonight(state, now) >= OVER_BUDGET_LIMIT


def over_budget(view: View, state: GateState, settings: Settings) -> bool:
    """Holding the card past the start-up grace, the server's own memory exceeds its budget: the
    floor less the slack. During the grace, unlabelled memory presumed the server's may be a
    resident's; an entry of unknown time has no grace (the residents' side)."""
    if view.blind or state.replicas < 1:
        return False
    if state.entered_at is not None and 0 <= (view.now - state.entered_at).total_seconds() < settings.startup_grace_seconds:
        return False
    return view.own_bytes > budget_bytes(settings.floor_bytes)


def budget_bytes(floor_bytes: int) -> int:
    """What the server may hold on the card: the floor less the slack."""
    return floor_bytes - OVER_BUDGET_SLACK_BYTES


def paused_by(state: GateState | None, settings: Settings) -> tuple[str, ...]:
    """Which switches pause the gate now (none: it runs). Either is enough."""
    switches = []
    if not settings.enabled:
        switches.append("enabled: false in the settings")
    if state is not None and state.pause_unreadable is not None:
        switches.append(
            f"the Lease's {PAUSED} annotation, whose value {state.pause_unreadable!r} is not one of "
            f"{'/'.join(SWITCH_ON)} or {'/'.join(SWITCH_OFF)} (read as a pause; gate pause or gate resume rewrites it)"
        )
    elif state is not None and state.paused:
        switches.append(f"the Lease's {PAUSED} annotation (gate pause)")
    return tuple(switches)


def _paused_text(switches: tuple[str, ...]) -> str:
    return "the gate is paused by " + " and ".join(switches)


def _demand_in_hours(settings: Settings, now: datetime) -> bool:
    demand = settings.demand
    return demand is not None and (demand.window is None or demand.window.contains(now))


def decide_preflight(view: View, state: GateState, settings: Settings, demand: Demand | None = None) -> Decision:
    """Take the card (replicas 1) only inside the window (or with work queued in demand's hours),
    with room, past any cool-down, and not in the window's last minutes."""
    cmd = "preflight"
    now = view.now
    clear_room: dict[str, str | None] = {ROOM_SINCE: None} if state.room_since is not None else {}
    paused = paused_by(state, settings)
    if paused:
        return Decision(cmd, Reason.DISABLED, f"not taking the card: {_paused_text(paused)}")
    demand = demand if settings.demand is not None else None
    # A failed probe is no action: the last count stands for idle-after; then the window rules.
    work = demand.work(settings.demand.idle_after_seconds) if demand is not None and settings.demand is not None else None
    by_demand = work is True and _demand_in_hours(settings, now)
    if state.replicas >= 1:
        return Decision(cmd, Reason.ALREADY_UP, f"already at {state.replicas} replica(s)")
    if not view.in_window and not by_demand:
        why = f"; {demand}" if demand is not None else ""
        return Decision(cmd, Reason.OUT_OF_WINDOW, f"outside the window ({_window_text(settings)}){why}", annotations=clear_room)
    if work is False:
        return Decision(cmd, Reason.NO_WORK, f"nothing to bake: the queue reads 0 ({demand})", annotations=clear_room)
    if barred(state, now):
        assert state.over_budget_at is not None
        return Decision(
            cmd,
            Reason.OVER_BUDGET,
            f"not taking the card tonight: the server outgrew its budget {state.over_budget_yields} times, last at "
            f"{format_instant(state.over_budget_at)}; measure it (gate measure) and raise the floor",
            annotations=clear_room,
        )
    if view.blind:
        return Decision(cmd, Reason.BLIND, f"not taking the card: {view.blind_reason}", annotations=clear_room)
    if not has_room(view, settings):
        return Decision(cmd, Reason.NO_ROOM, f"no room: {_room_text(view, settings)}", annotations=clear_room)
    if state.yielded_at is not None:
        if not has_room(view, settings, settings.hysteresis_bytes):
            return Decision(
                cmd,
                Reason.COOLING_DOWN,
                f"after a yield, re-entry needs {format_size(settings.hysteresis_bytes)} above the floor: {_room_text(view, settings)}",
                annotations=clear_room,
            )
        since = state.room_since
        wait = cooldown(state, settings)
        streak = f", yield {state.yield_streak} in a row" if state.yield_streak else ", the yield streak unreadable"
        if since is None or since > now:  # none yet, or from a clock that has since jumped back
            return Decision(
                cmd,
                Reason.COOLING_DOWN,
                f"room seen after the yield at {format_instant(state.yielded_at)}{streak}; re-entry after {format_duration(wait)} of room",
                annotations={ROOM_SINCE: format_instant(now)},
            )
        held = (now - since).total_seconds()
        if held < wait:
            return Decision(
                cmd,
                Reason.COOLING_DOWN,
                f"room for {format_duration(held)} of the {format_duration(wait)} needed after a yield{streak}",
            )
    left = settings.window.seconds_left(now) if settings.window is not None else None
    if not by_demand and left is not None and left < settings.entry_margin_seconds:
        return Decision(
            cmd,
            Reason.WINDOW_ENDING,
            f"the window ends in {format_duration(left)}, within the {format_duration(settings.entry_margin_seconds)} "
            "a start and a model load need",
            annotations=clear_room,
        )
    entry = {ENTERED_AT: format_instant(now), ENTRY_UNATTRIBUTED: str(view.source_unattributed_bytes)}
    if state.generation is not None:
        entry[ENTRY_GENERATION] = str(state.generation)
    work_text = f"; {demand}" if by_demand else ""
    return Decision(
        cmd,
        Reason.ENTERED,
        f"taking the card: {_room_text(view, settings)}{work_text}",
        replicas=1,
        annotations={**cleared(state), **entry},
    )


def decide_guard(view: View, state: GateState, settings: Settings, demand: Demand | None = None) -> Decision:
    """Holding the card, yield it (replicas 0) when blind, out of the window (and of demand's
    hours), out of room, or, with demand, once the queue has read 0 for idle-after."""
    cmd = "guard"
    now = view.now
    if state.replicas < 1:
        return Decision(cmd, Reason.NOT_HOLDING, "not holding the card")
    paused = paused_by(state, settings)
    if paused:
        # A pause is not a resident's wake: no cool-down after it.
        return Decision(cmd, Reason.DISABLED, f"yielding the card: {_paused_text(paused)}", replicas=0, annotations=cleared(state))
    demand = demand if settings.demand is not None else None
    yielded = yield_changes(state, settings, now)
    if view.blind:
        return Decision(cmd, Reason.BLIND, f"yielding the card, blind: {view.blind_reason}", replicas=0, annotations=yielded)
    if not view.in_window and not (demand is not None and _demand_in_hours(settings, now)):
        # The window's end is not a resident's wake: the next window starts without a cool-down.
        return Decision(
            cmd,
            Reason.OUT_OF_WINDOW,
            f"yielding the card, outside the window ({_window_text(settings)})",
            replicas=0,
            annotations=_night_cleared(state),
        )
    if over_budget(view, state, settings):
        # Before no-room: when both hold, the server's own growth is the finding that needs a person.
        count = over_budget_tonight(state, now) + 1
        after = "; it will not take the card again tonight" if count >= OVER_BUDGET_LIMIT else ""
        return Decision(
            cmd,
            Reason.OVER_BUDGET,
            f"yielding the card, the server outgrew its budget: own {format_size(view.own_bytes)} > floor "
            f"{format_size(settings.floor_bytes)} less {format_size(OVER_BUDGET_SLACK_BYTES)} (over-budget yield {count} "
            f"tonight{after}); measure it with gate measure and raise the floor",
            replicas=0,
            annotations={**yielded, OVER_BUDGET_YIELDS: str(count), OVER_BUDGET_AT: format_instant(now)},
        )
    if not has_room(view, settings):
        return Decision(cmd, Reason.NO_ROOM, f"yielding the card, no room: {_room_text(view, settings)}", replicas=0, annotations=yielded)
    holding = f"holding the card: {_room_text(view, settings)}"
    if demand is None:
        return Decision(cmd, Reason.HOLDING, holding)
    assert settings.demand is not None
    idle_after = settings.demand.idle_after_seconds
    if demand.queued == 0:
        since = state.idle_since
        if since is None or since > now:
            return Decision(
                cmd,
                Reason.HOLDING,
                f"{holding}; the queue is empty, giving the card back after {format_duration(idle_after)} of that",
                annotations={IDLE_SINCE: format_instant(now)},
            )
        empty = (now - since).total_seconds()
        if empty >= idle_after:
            return Decision(
                cmd,
                Reason.IDLE,
                f"giving the card back: the queue has been empty for {format_duration(empty)}",
                replicas=0,
                # No resident cut this hold short: the streak ends; tonight's over-budget count stays.
                annotations={**cleared(state), **({YIELD_STREAK: None} if state.yield_streak is not None else {})},
            )
        return Decision(cmd, Reason.HOLDING, f"{holding}; the queue empty for {format_duration(empty)} of {format_duration(idle_after)}")
    # Work waiting clears the idle clock; an unknown demand leaves it as it is and does nothing.
    clear_idle: dict[str, str | None] = {IDLE_SINCE: None} if demand.queued is not None and state.idle_since is not None else {}
    return Decision(cmd, Reason.HOLDING, f"{holding}; {demand}", annotations=clear_idle)


def over_budget_tonight(state: GateState, now: datetime) -> int:
    """Over-budget yields tonight: none once OVER_BUDGET_NIGHT_SECONDS have passed since the last
    (demand with no window: nothing else ends a night)."""
    if state.over_budget_at is None or (now - state.over_budget_at).total_seconds() >= OVER_BUDGET_NIGHT_SECONDS:
        return 0
    return state.over_budget_yields


def decide_down(state: GateState) -> Decision:
    """The window's end: replicas 0 whatever the metrics say, and a clean slate for the next night."""
    if state.replicas == 0:
        return Decision("down", Reason.ALREADY_DOWN, "already at 0 replicas", annotations=_night_cleared(state))
    return Decision("down", Reason.WINDOW_END, f"scaling {state.replicas} replica(s) to 0", replicas=0, annotations=_night_cleared(state))


def decide_tick(view: View, state: GateState, settings: Settings, demand: Demand | None = None) -> Decision:
    """One tick of `gate run`: guard while holding, preflight while not; paused, give it back
    (as `down` would) and take it nowhere."""
    paused = paused_by(state, settings)
    if paused:
        down = decide_down(state)
        message = f"{_paused_text(paused)}: {down.message if down.replicas is not None else 'not taking the card'}"
        return Decision("down", Reason.DISABLED, message, down.replicas, down.annotations)
    if state.replicas >= 1:
        return decide_guard(view, state, settings, demand)
    return decide_preflight(view, state, settings, demand)


DECIDERS = {
    "preflight": decide_preflight,
    "guard": decide_guard,
    "tick": decide_tick,
}
COMMANDS = ("preflight", "guard", "down", "tick")


def step(command: str, view: View | None, state: GateState, settings: Settings, demand: Demand | None = None) -> Decision:
    """One command's decision: the one place a command's decider is chosen, for the live
    commands, the controller (`tick`), `status` and the replay alike. `down` looks at no
    metrics (its view may be None); the others need one. Pause is read inside the deciders:
    `settings.enabled` and the Lease's switch (`state.paused`)."""
    if command == "down":
        return decide_down(state)
    if command not in DECIDERS:
        raise ValueError(f"invalid command {command!r}: expected one of {', '.join(COMMANDS)}")
    if view is None:
        raise ValueError(f"{command} decides from a view of the card, and was given none")
    return DECIDERS[command](view, state, settings, demand)
