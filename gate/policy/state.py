"""The gate's memory between runs: the annotations it keeps on its Lease, read into a `GateState`,
and how two writers' changes merge (`merge_state`) so that neither undoes the other's work.

Every timestamp here is a wall-clock instant written by some run of the gate (the controller, a
CronJob, the sidecar), so none is trusted blindly: see `gate.policy.rules` (`timer_restart`) for
the checks (one in the future, or a clock that jumped, restarts the timer it measures).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from gate.units import parse_instant

# The annotations, on the gate's Lease.
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
# Warm standby. The server is parked (replicas stay 1, its model in host memory) since this
# instant; absent: it serves. Written after the server confirmed the park; removed by the unpark's
# intent and by every scale to 0. With 0 replicas it means nothing (`GateState.parked`).
PARKED_AT = "tts.gate/parked-at"
# The last unpark: a hold's length (the yield streak) is counted from it as from an entry.
UNPARKED_AT = "tts.gate/unparked-at"
# Tonight's parks, unparks and failed ones (a park or an unpark that failed, passed its bound or
# left a server that no longer says parked), the seconds parks lasted (those that ended), and the
# last park's and unpark's seconds as the server answered: what `gate status` shows.
PARKS = "tts.gate/parks"
UNPARKS = "tts.gate/unparks"
PARK_FAILURES = "tts.gate/park-failures"
PARKED_SECONDS = "tts.gate/parked-seconds"
LAST_PARK_SECONDS = "tts.gate/last-park-seconds"
LAST_UNPARK_SECONDS = "tts.gate/last-unpark-seconds"
# What operators write for on and off (compared case-insensitively, spaces stripped).
SWITCH_ON = ("true", "yes", "1")
SWITCH_OFF = ("false", "no", "0")
# A try (`gate try`): until this instant the window counts as open, so the card may be taken with
# room at any hour, every other rule holding. Written by operators; of the gate's own decisions
# only `down` touches it (the window's end ends a try: see `decide_down`).
TRY_UNTIL = "tts.gate/try-until"
# The longest try `gate try` writes. A stored end further ahead than this and the slack is not a
# try anyone asked for (a typo, a writer's clock far ahead of the reader's): it is ignored.
TRY_LONGEST_SECONDS = 3600.0
TRY_CLOCK_SLACK_SECONDS = 300.0
# Timestamps: when two writers disagree, the later one stands (see `merge_state`).
INSTANTS = (YIELDED_AT, ROOM_SINCE, ENTERED_AT, IDLE_SINCE, OVER_BUDGET_AT, PARKED_AT, UNPARKED_AT)
COUNTS = (YIELD_STREAK, OVER_BUDGET_YIELDS, PARKS, UNPARKS, PARK_FAILURES, PARKED_SECONDS)
PARK_KEYS = frozenset({PARKED_AT, UNPARKED_AT, PARKS, UNPARKS, PARK_FAILURES, PARKED_SECONDS, LAST_PARK_SECONDS, LAST_UNPARK_SECONDS})
STATE_KEYS = (
    frozenset(
        {
            YIELDED_AT,
            ROOM_SINCE,
            ENTERED_AT,
            IDLE_SINCE,
            ENTRY_UNATTRIBUTED,
            ENTRY_GENERATION,
            YIELD_STREAK,
            OVER_BUDGET_YIELDS,
            OVER_BUDGET_AT,
        }
    )
    | PARK_KEYS
)


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
    # The yield was carried out but never written: see `_unrecorded_yield`.
    yield_unrecorded: bool = False
    paused: bool = False  # the Lease's pause switch is on (`gate pause`), or unreadable
    # The pause annotation's value when it is neither on nor off: it pauses (see `read_switch`).
    pause_unreadable: str | None = None
    parked_at: datetime | None = None  # as written; `parked` says whether it counts
    unparked_at: datetime | None = None
    parks: int = 0  # tonight's, as the Lease counts them (absent or unreadable: 0)
    unparks: int = 0
    park_failures: int = 0
    parked_seconds: int = 0  # tonight's finished parks
    last_park_seconds: float | None = None
    last_unpark_seconds: float | None = None
    try_until: datetime | None = None  # the try's end as stored (whether it is honoured: `open_try`)
    try_unreadable: str | None = None  # the try annotation's value when it is not an instant: ignored

    @property
    def parked(self) -> bool:
        """Holding the card with the server parked: the model in host memory, a residue on the card."""
        return self.replicas >= 1 and self.parked_at is not None

    @property
    def held_since(self) -> datetime | None:
        """When the current hold began: the entry, or the unpark after it (a park ends a hold)."""
        starts = [t for t in (self.entered_at, self.unparked_at) if t is not None]
        return max(starts) if starts else None

    @classmethod
    def from_annotations(cls, replicas: int, annotations: Mapping[str, str], generation: int | None = None) -> GateState:
        """Read the state annotations; an unreadable one is ignored (treated as absent). An entry
        whose yield was carried out but never written reads as a yield (`_unrecorded_yield`)."""
        read = _AnnotationReader(annotations)
        entered_at, entry_generation = read.instant(ENTERED_AT), read.count(ENTRY_GENERATION)
        yielded_at, streak, unrecorded = _unrecorded_yield(
            replicas, entered_at, read.instant(YIELDED_AT), read.count(YIELD_STREAK), generation, entry_generation
        )
        over_budget_at = read.instant(OVER_BUDGET_AT)
        # A count without its time could never expire (no window ends a demand-only night): none.
        over_budget = (read.count(OVER_BUDGET_YIELDS) or 0) if over_budget_at is not None else 0
        switch = read_switch(annotations.get(PAUSED))
        try_until = read.instant(TRY_UNTIL)
        return cls(
            replicas=replicas,
            yielded_at=yielded_at,
            room_since=read.instant(ROOM_SINCE),
            entered_at=entered_at,
            entry_unattributed_bytes=read.count(ENTRY_UNATTRIBUTED),
            idle_since=read.instant(IDLE_SINCE),
            yield_streak=streak if streak else None,
            over_budget_yields=over_budget,
            over_budget_at=over_budget_at,
            generation=generation,
            entry_generation=entry_generation,
            yield_unrecorded=unrecorded,
            paused=switch is not False,
            pause_unreadable=annotations[PAUSED] if switch is None else None,
            parked_at=read.instant(PARKED_AT),
            unparked_at=read.instant(UNPARKED_AT),
            parks=read.count(PARKS) or 0,
            unparks=read.count(UNPARKS) or 0,
            park_failures=read.count(PARK_FAILURES) or 0,
            parked_seconds=read.count(PARKED_SECONDS) or 0,
            last_park_seconds=read.seconds(LAST_PARK_SECONDS),
            last_unpark_seconds=read.seconds(LAST_UNPARK_SECONDS),
            try_until=try_until,
            try_unreadable=annotations[TRY_UNTIL] if TRY_UNTIL in annotations and try_until is None else None,
        )


@dataclass(frozen=True)
class _AnnotationReader:
    """One annotation's value as an instant, a count or seconds; unreadable reads as absent (None)."""

    annotations: Mapping[str, str]

    def instant(self, key: str) -> datetime | None:
        try:
            return parse_instant(self.annotations[key]) if key in self.annotations else None
        except ValueError:
            return None

    def count(self, key: str) -> int | None:
        text = self.annotations.get(key, "")
        return int(text) if text.isascii() and text.isdigit() else None

    def seconds(self, key: str) -> float | None:
        text = self.annotations.get(key, "")
        try:
            value = float(text) if text.isascii() and text.replace(".", "", 1).isdigit() else None
        except ValueError:
            return None
        return value if value is not None and value < 1e6 else None


def _unrecorded_yield(
    replicas: int,
    entered_at: datetime | None,
    yielded_at: datetime | None,
    streak: int | None,
    generation: int | None,
    entry_generation: int | None,
) -> tuple[datetime | None, int | None, bool]:
    """The yield and the streak as read, and whether the yield was never written.

    An entry recorded, no replicas and no yield recorded: if the Deployment has been scaled
    since the entry (its generation moved on), the card was held and given back by a run that
    could not write its yield (killed, or the API failed between the two writes). It reads
    as a yield at the entry's time, so the cool-down applies as it would have. If the
    generation has not moved, the entry's intent was written and never carried out: it is
    ignored, and the next preflight decides as if it had never been written.
    """
    if replicas < 1 and entered_at is not None and yielded_at is None:
        # Without both generations the entry's fate is unknown: a yield is the safe reading.
        moved = generation is None or entry_generation is None or generation > entry_generation
        if moved:
            # The hold's length is unknown: count it as cut short, as the recorded yield would
            # have after a short hold (after a long one, this errs on the residents' side).
            return entered_at, (streak or 0) + 1, True
    return yielded_at, streak, False


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


def cleared(state: GateState) -> dict[str, str | None]:
    """Annotation changes that remove whatever cool-down and hold state is set (a park among it:
    a scale to 0 ends one). What counts across the night (the yield streak, the over-budget
    yields, the parks) stays: see `night_cleared`."""
    present = {
        YIELDED_AT: state.yielded_at,
        ROOM_SINCE: state.room_since,
        ENTERED_AT: state.entered_at,
        ENTRY_UNATTRIBUTED: state.entry_unattributed_bytes,
        ENTRY_GENERATION: state.entry_generation,
        IDLE_SINCE: state.idle_since,
        PARKED_AT: state.parked_at,
        UNPARKED_AT: state.unparked_at,
    }
    return {key: None for key, value in present.items() if value is not None}


def park_ended(state: GateState, now: datetime) -> dict[str, str]:
    """A park that ends at `now` (an unpark, a scale to 0): its seconds join tonight's. Nothing
    when the server is not parked; a park stamped in the future counts nothing."""
    if not state.parked or state.parked_at is None:
        return {}
    lasted = max(0, int((now - state.parked_at).total_seconds()))
    return {PARKED_SECONDS: str(state.parked_seconds + lasted)}


def night_cleared(state: GateState) -> dict[str, str | None]:
    """The night is over (the window's end, `down`, the kill switch): a clean slate."""
    # The over-budget count is read only beside its time: the time says whether both are set.
    night = {YIELD_STREAK: state.yield_streak, OVER_BUDGET_YIELDS: state.over_budget_at, OVER_BUDGET_AT: state.over_budget_at}
    tonight_parks = {
        PARKS: state.parks or None,
        UNPARKS: state.unparks or None,
        PARK_FAILURES: state.park_failures or None,
        PARKED_SECONDS: state.parked_seconds or None,
        LAST_PARK_SECONDS: state.last_park_seconds,
        LAST_UNPARK_SECONDS: state.last_unpark_seconds,
    }
    return {**cleared(state), **{key: None for key, value in {**night, **tonight_parks}.items() if value is not None}}


__all__ = [
    "COUNTS",
    "ENTERED_AT",
    "ENTRY_GENERATION",
    "ENTRY_UNATTRIBUTED",
    "IDLE_SINCE",
    "INSTANTS",
    "LAST_PARK_SECONDS",
    "LAST_UNPARK_SECONDS",
    "OVER_BUDGET_AT",
    "OVER_BUDGET_YIELDS",
    "PARKED_AT",
    "PARKED_SECONDS",
    "PARKS",
    "PARK_FAILURES",
    "PARK_KEYS",
    "PAUSED",
    "ROOM_SINCE",
    "STATE_KEYS",
    "SWITCH_OFF",
    "SWITCH_ON",
    "TRY_CLOCK_SLACK_SECONDS",
    "TRY_LONGEST_SECONDS",
    "TRY_UNTIL",
    "UNPARKED_AT",
    "UNPARKS",
    "YIELDED_AT",
    "YIELD_STREAK",
    "GateState",
    "cleared",
    "merge_state",
    "night_cleared",
    "park_ended",
    "read_switch",
]
