"""The rules every decider shares: a decision's shape (`Reason`, `Control`, `Decision`), the
cool-down after a yield and a yield's record, the server's budget, the pause, the timers the
gate keeps in its Lease, and the words the decisions' messages share.

The entry and guard deciders (`decisions`) and the parking decisions (`parking`) both stand on
these; none of them reads a clock or does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from gate.policy.observation import View
from gate.policy.settings import Settings
from gate.policy.state import PAUSED, SWITCH_OFF, SWITCH_ON, YIELD_STREAK, YIELDED_AT, GateState, cleared, park_ended
from gate.units import format_duration, format_instant, format_size

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
    PAUSED = "paused"  # `enabled: false` or the Lease's switch: the card is given back and never taken
    # guard: the server's own memory outgrew the floor; preflight: two such yields tonight
    OVER_BUDGET = "over-budget"
    # Warm standby (guard, and the controller's unpark as preflight):
    PARKED = "parked"  # a wake: the server parked, its model in host memory, a residue on the card
    STILL_PARKED = "still-parked"  # parked, the parked rule holds, no room (or no cool-down) yet to unpark
    UNPARKED = "unparked"  # room again: the model back on the card, serving
    PARK_FAILED = "park-failed"  # a park or unpark failed or passed its bound, or the server no longer says parked: scaled to 0
    RESIDUE = "residue"  # the parked server keeps more on the card than park.residue: scaled to 0
    MAX_PARKED = "max-parked"  # parked for park.maxParked: scaled to 0
    PARK_OFF = "park-off"  # parking turned off while parked: scaled to 0


class Control(StrEnum):
    """What a caller may do to the server besides scaling it, through its control port: the
    controller parks and unparks; the sidecar parks (a give-back that keeps the pod) but never
    unparks (re-entry is the controller's, as entries are); the CronJobs neither (a one-shot run
    cannot watch a park it starts, and they are the safety net for when both loops are gone)."""

    NONE = "none"
    PARK = "park"
    FULL = "park-unpark"


@dataclass(frozen=True)
class Decision:
    # The decider that decided: preflight, guard or down. The controller's tick decides as one of
    # them (see `decide_tick`), so its Events and metrics read as that command's.
    command: str
    reason: Reason
    message: str
    replicas: int | None = None  # the replicas to set; None leaves them alone
    annotations: Mapping[str, str | None] = field(default_factory=dict)  # None removes a key
    park: str | None = None  # "park" or "unpark": asked of the server's control port, replicas unchanged

    @property
    def refused(self) -> bool:
        """A preflight that could have taken the card and did not."""
        return self.command == "preflight" and self.reason not in (Reason.ENTERED, Reason.ALREADY_UP, Reason.UNPARKED)


def room_text(view: View, settings: Settings) -> str:
    presumed = f"; {format_size(view.presumed_own_bytes)} unlabelled presumed the server's" if view.presumed_own_bytes else ""
    return (
        f"free {format_size(view.free_bytes)} (total {format_size(view.total_bytes)} - residents "
        f"{format_size(view.resident_bytes)}{presumed}) vs floor {format_size(settings.floor_bytes)}"
    )


def window_text(settings: Settings) -> str:
    return str(settings.window) if settings.window else "no window"


def paused_text(switches: tuple[str, ...]) -> str:
    return "the gate is paused by " + " and ".join(switches)


def in_demand_hours(settings: Settings, now: datetime) -> bool:
    demand = settings.demand
    return demand is not None and (demand.window is None or demand.window.contains(now))


def timer_restart(since: datetime | None, view: View) -> str | None:
    """None while a timer stored at `since` runs and can be trusted; else it (re)starts now, as
    a wake would, and this says why in a message's words ("": none was running).

    The Lease's instants are wall-clock times written by whichever run of the gate started them;
    one in the future, or a wall clock that this process saw jump against its monotonic clock,
    says the difference `now - since` measures the clock, not the time that passed."""
    if since is None:
        return ""
    if since > view.now:
        return f" (the timer restarts: it was stamped {format_duration((since - view.now).total_seconds())} in the future)"
    if view.clock_jumped:
        return f" (the timer restarts: the wall clock jumped {format_duration(abs(view.clock_jump_seconds))} against the monotonic clock)"
    return None


def _streak_cap(settings: Settings) -> int:
    """The streak at which the cool-down reaches its cap: doubling further changes nothing."""
    streak = 1
    while settings.cooldown_seconds > 0 and settings.cooldown_seconds * 2 ** (streak - 1) < settings.cooldown_max_seconds:
        streak += 1
    return streak


def cooldown(state: GateState, settings: Settings) -> float:
    """How long re-entry after the last yield waits with room: the first cool-down doubled for
    each yield in a row that cut an entry short, up to the cap. A streak that cannot be read
    after a yield is the longest."""
    longest = max(settings.cooldown_seconds, settings.cooldown_max_seconds)
    if state.yield_streak is None:
        return longest
    streak = min(state.yield_streak, _streak_cap(settings))  # a huge one read back: no overflow
    return max(settings.cooldown_seconds, min(settings.cooldown_max_seconds, settings.cooldown_seconds * 2 ** (streak - 1)))


def streak_after(state: GateState, settings: Settings, now: datetime, clock_jumped: bool) -> int:
    """The yield streak after a wake at `now`: a hold (since the entry or the last unpark) shorter
    than SHORT_HOLD_SECONDS, or of unknown length, continues it; a longer one starts it anew."""
    since = state.held_since
    held = (now - since).total_seconds() if since is not None and not clock_jumped else None
    short = held is None or held < SHORT_HOLD_SECONDS  # a clock that jumped back: short too
    return min((state.yield_streak or 0) + 1, _streak_cap(settings)) if short else 1


def yield_changes(state: GateState, settings: Settings, now: datetime, clock_jumped: bool = False) -> dict[str, str | None]:
    """A yield's state: its time, and the streak. A hold shorter than SHORT_HOLD_SECONDS (or of
    unknown length) continues the streak; a longer one was a quiet stretch, and starts it anew.
    A hold measured across a clock jump is of unknown length."""
    streak = streak_after(state, settings, now, clock_jumped)
    return {**cleared(state), **park_ended(state, now), YIELDED_AT: format_instant(now), YIELD_STREAK: str(streak)}


def over_budget_tonight(state: GateState, now: datetime) -> int:
    """Over-budget yields tonight: none once OVER_BUDGET_NIGHT_SECONDS have passed since the last
    (demand with no window: nothing else ends a night)."""
    if state.over_budget_at is None or (now - state.over_budget_at).total_seconds() >= OVER_BUDGET_NIGHT_SECONDS:
        return 0
    return state.over_budget_yields


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


__all__ = [
    "OVER_BUDGET_LIMIT",
    "OVER_BUDGET_NIGHT_SECONDS",
    "OVER_BUDGET_SLACK_BYTES",
    "SHORT_HOLD_SECONDS",
    "Control",
    "Decision",
    "Reason",
    "barred",
    "budget_bytes",
    "cooldown",
    "over_budget",
    "over_budget_tonight",
    "paused_by",
    "yield_changes",
]
