"""The decisions: what each command does with a view of the card and the gate's state.

`step` is the one place a command's decider is chosen. Every decider returns a `Decision` (one
reason drives the Event, the metric and the log line); none reads a clock or does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from gate.policy.observation import (
    Demand,
    ParkReport,
    ServerState,
    View,
    has_parked_room,
    has_room,
    headroom_bytes,
    parked_residue_bound,
    residue_counted,
)
from gate.policy.settings import Settings
from gate.policy.state import (
    ENTERED_AT,
    ENTRY_GENERATION,
    ENTRY_UNATTRIBUTED,
    IDLE_SINCE,
    LAST_PARK_SECONDS,
    LAST_UNPARK_SECONDS,
    OVER_BUDGET_AT,
    OVER_BUDGET_YIELDS,
    PARK_FAILURES,
    PARKED_AT,
    PARKS,
    PAUSED,
    ROOM_SINCE,
    SWITCH_OFF,
    SWITCH_ON,
    TRY_UNTIL,
    UNPARKED_AT,
    UNPARKS,
    YIELD_STREAK,
    YIELDED_AT,
    GateState,
    cleared,
    night_cleared,
    park_ended,
)
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


def _room_text(view: View, settings: Settings) -> str:
    presumed = f"; {format_size(view.presumed_own_bytes)} unlabelled presumed the server's" if view.presumed_own_bytes else ""
    return (
        f"free {format_size(view.free_bytes)} (total {format_size(view.total_bytes)} - residents "
        f"{format_size(view.resident_bytes)}{presumed}) vs floor {format_size(settings.floor_bytes)}"
    )


def _window_text(settings: Settings) -> str:
    return str(settings.window) if settings.window else "no window"


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


def park_cooldown(settings: Settings) -> float:
    """How long an unpark waits with room after a park (`park.cooldown`, fixed). A return from a
    park costs seconds, not a pod start and a model load, so the doubling that guards entries
    against a flapping resident is not needed: a wake that cuts an unpark short costs one park.
    `make bench` compares the values (docs/design.md, Warm standby)."""
    return settings.park.cooldown_seconds if settings.park is not None else 0.0


def _streak_after(state: GateState, settings: Settings, now: datetime, clock_jumped: bool) -> int:
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
    streak = _streak_after(state, settings, now, clock_jumped)
    return {**cleared(state), **park_ended(state, now), YIELDED_AT: format_instant(now), YIELD_STREAK: str(streak)}


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


def _restarted(since: datetime | None, view: View) -> str | None:
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


def decide_preflight(view: View, state: GateState, settings: Settings, demand: Demand | None = None) -> Decision:
    """Take the card (replicas 1) only inside the window (or with work queued in demand's hours),
    with room, past any cool-down, and not in the window's last minutes."""
    cmd = "preflight"
    now = view.now
    clear_room: dict[str, str | None] = {ROOM_SINCE: None} if state.room_since is not None else {}
    paused = paused_by(state, settings)
    if paused:
        return Decision(cmd, Reason.PAUSED, f"not taking the card: {_paused_text(paused)}")
    demand = demand if settings.demand is not None else None
    # A failed probe is no action: the last count stands for idle-after; then the window rules.
    work = demand.work(settings.demand.idle_after_seconds) if demand is not None and settings.demand is not None else None
    by_demand = work is True and _demand_in_hours(settings, now)
    if state.replicas >= 1:
        return Decision(cmd, Reason.ALREADY_UP, f"already at {state.replicas} replica(s)")
    if not view.in_window and not by_demand:
        why = (f"; {demand}" if demand is not None else "") + _try_text(view, state)
        return Decision(cmd, Reason.OUT_OF_WINDOW, f"outside the window ({_window_text(settings)}){why}", annotations=clear_room)
    if work is False and view.try_until is None:  # a try is work the operator asked for
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
    cooling = _cooling_down(view, state, settings, clear_room) if state.yielded_at is not None else None
    if cooling is not None:
        return cooling
    left, ending = _entry_left(view, settings, work)
    if not by_demand and left is not None and left < settings.entry_margin_seconds:
        return Decision(
            cmd,
            Reason.WINDOW_ENDING,
            f"{ending} ends in {format_duration(left)}, within the {format_duration(settings.entry_margin_seconds)} "
            "a start and a model load need",
            annotations=clear_room,
        )
    return _entry(view, state, settings, (f"; {demand}" if by_demand else "") + _trying_text(view))


def _entry_left(view: View, settings: Settings, work: bool | None) -> tuple[float | None, str]:
    """How long a card taken now would be held, and what ends it: the window (None: it has no
    end), or, where only a try lets the card be taken (outside the window, or a queue at 0), the
    try, unless the window ends sooner (the window's end, `down`, ends a try too)."""
    left = settings.window.seconds_left(view.now) if settings.window is not None else None
    outside = settings.window is not None and left is None
    if view.try_until is None or not (outside or work is False):
        return left, "the window"
    try_left = (view.try_until - view.now).total_seconds()
    return (left, "the window") if left is not None and left < try_left else (try_left, "the try")


def _trying_text(view: View) -> str:
    return f"; a try holds the window open until {format_instant(view.try_until)}" if view.try_until is not None else ""


def _try_text(view: View, state: GateState) -> str:
    """Outside the window: why no try opens it (ignored, or over), where the Lease has one."""
    if view.try_ignored is not None:
        return f"; {view.try_ignored}"
    if state.try_until is not None and state.try_until <= view.now:
        return f"; the try ended at {format_instant(state.try_until)}"
    return ""


def _cooling_down(view: View, state: GateState, settings: Settings, clear_room: Mapping[str, str | None]) -> Decision | None:
    """After a yield, with room: the cool-down's decision while it runs, or None once it is over.
    Its timer (`room-since`) restarts as a wake would when it cannot be trusted (`_restarted`)."""
    cmd = "preflight"
    assert state.yielded_at is not None
    if not has_room(view, settings, settings.hysteresis_bytes):
        return Decision(
            cmd,
            Reason.COOLING_DOWN,
            f"after a yield, re-entry needs {format_size(settings.hysteresis_bytes)} above the floor: {_room_text(view, settings)}",
            annotations=clear_room,
        )
    wait = cooldown(state, settings)
    streak = f", yield {state.yield_streak} in a row" if state.yield_streak else ", the yield streak unreadable"
    restarted = _restarted(state.room_since, view)
    if restarted is not None:
        return Decision(
            cmd,
            Reason.COOLING_DOWN,
            f"room seen after the yield at {format_instant(state.yielded_at)}{streak}; re-entry after {format_duration(wait)} "
            f"of room{restarted}",
            annotations={ROOM_SINCE: format_instant(view.now)},
        )
    assert state.room_since is not None
    held = (view.now - state.room_since).total_seconds()
    if held < wait:
        return Decision(
            cmd, Reason.COOLING_DOWN, f"room for {format_duration(held)} of the {format_duration(wait)} needed after a yield{streak}"
        )
    return None


def _entry(view: View, state: GateState, settings: Settings, work_text: str) -> Decision:
    """Take the card: the entry's intent (its time, the unattributed baseline, the generation)."""
    entry = {ENTERED_AT: format_instant(view.now), ENTRY_UNATTRIBUTED: str(view.source_unattributed_bytes)}
    if state.generation is not None:
        entry[ENTRY_GENERATION] = str(state.generation)
    return Decision(
        "preflight",
        Reason.ENTERED,
        f"taking the card: {_room_text(view, settings)}{work_text}",
        replicas=1,
        annotations={**cleared(state), **entry},
    )


def decide_guard(
    view: View,
    state: GateState,
    settings: Settings,
    demand: Demand | None = None,
    server: ServerState | None = None,
    control: Control = Control.NONE,
) -> Decision:
    """Holding the card, yield it (replicas 0) when blind, out of the window (and of demand's
    hours), out of room, or, with demand, once the queue has read 0 for idle-after. With parking
    on and a caller that may park (`control`), a wake that leaves the card room for the parked
    residue parks the server instead; a parked server is decided by `_decide_parked` (`server`:
    its control port's answer, read while the gate's state says parked)."""
    cmd = "guard"
    now = view.now
    if state.replicas < 1:
        return Decision(cmd, Reason.NOT_HOLDING, "not holding the card")
    paused = paused_by(state, settings)
    if paused:
        # A pause is not a resident's wake: no cool-down after it.
        changes = {**cleared(state), **park_ended(state, now)}
        return Decision(cmd, Reason.PAUSED, f"yielding the card: {_paused_text(paused)}", replicas=0, annotations=changes)
    demand = demand if settings.demand is not None else None
    if state.parked:
        return _decide_parked(view, state, settings, demand, server, control)
    yielded = yield_changes(state, settings, now, view.clock_jumped)
    if view.blind:
        return Decision(cmd, Reason.BLIND, f"yielding the card, blind: {view.blind_reason}", replicas=0, annotations=yielded)
    if not view.in_window and not (demand is not None and _demand_in_hours(settings, now)):
        # The window's end is not a resident's wake: the next window starts without a cool-down.
        return Decision(
            cmd,
            Reason.OUT_OF_WINDOW,
            f"yielding the card, outside the window ({_window_text(settings)}){_try_text(view, state)}",
            replicas=0,
            annotations=night_cleared(state),
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
        park = _park(view, state, settings, demand, control)
        if park is not None:
            return park
        return Decision(cmd, Reason.NO_ROOM, f"yielding the card, no room: {_room_text(view, settings)}", replicas=0, annotations=yielded)
    holding = f"holding the card: {_room_text(view, settings)}{_trying_text(view)}"
    if demand is None:
        return Decision(cmd, Reason.HOLDING, holding)
    return _holding_with_demand(view, state, settings, demand, holding)


def _holding_with_demand(view: View, state: GateState, settings: Settings, demand: Demand, holding: str) -> Decision:
    """Holding with room and a queue to read: give the card back once the queue has read an
    explicit 0 for idle-after. Its timer (`idle-since`) restarts when it cannot be trusted."""
    cmd = "guard"
    assert settings.demand is not None
    idle_after = settings.demand.idle_after_seconds
    if demand.queued == 0:
        restarted = _restarted(state.idle_since, view)
        if restarted is not None:
            return Decision(
                cmd,
                Reason.HOLDING,
                f"{holding}; the queue is empty, giving the card back after {format_duration(idle_after)} of that{restarted}",
                annotations={IDLE_SINCE: format_instant(view.now)},
            )
        assert state.idle_since is not None
        empty = (view.now - state.idle_since).total_seconds()
        if empty >= idle_after and view.try_until is None:  # a try holds the card the operator asked for
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


def _parked_text(view: View, settings: Settings, residue_bytes: int) -> str:
    return (
        f"free {format_size(view.free_bytes)} (total {format_size(view.total_bytes)} - residents {format_size(view.resident_bytes)}) "
        f"vs residue {format_size(residue_bytes)} + headroom {format_size(headroom_bytes(settings))}"
    )


def _park(view: View, state: GateState, settings: Settings, demand: Demand | None, control: Control) -> Decision | None:
    """A wake with parking on: park when the card can hold the residue (at most park.residue)
    with the floor's headroom above the peak, the caller may park, the server has loaded (past
    the start-up grace of an entry this gate made) and a return is wanted (no queue reading 0).
    None: scale to 0 as without parking. The park comes first and its record after (as a yield's):
    `PARKED_AT` is written once the server confirmed it (`carried_out`)."""
    if settings.park is None or control is Control.NONE or view.clock_jumped:
        return None
    if demand is not None and demand.queued == 0:
        return None  # nothing waits: no return worth keeping the model in memory for
    if state.entered_at is None:
        return None  # replicas set by hand: it may still be loading
    since_entry = (view.now - state.entered_at).total_seconds()
    if not settings.startup_grace_seconds <= since_entry:
        return None  # still starting or loading (or an entry stamped in the future): no model on the card to move yet
    residue = parked_residue_bound(settings)
    if not has_parked_room(view, settings, residue):
        return None
    streak = _streak_after(state, settings, view.now, view.clock_jumped)
    changes: dict[str, str | None] = {YIELDED_AT: format_instant(view.now), YIELD_STREAK: str(streak), PARKS: str(state.parks + 1)}
    if state.room_since is not None:
        changes[ROOM_SINCE] = None
    return Decision(
        "guard",
        Reason.PARKED,
        f"parking the server, no room to serve: {_room_text(view, settings)}; the card holds the parked server: "
        f"{_parked_text(view, settings, residue)}",
        annotations=changes,
        park="park",
    )


def _decide_parked(
    view: View, state: GateState, settings: Settings, demand: Demand | None, server: ServerState | None, control: Control
) -> Decision:
    """The server is parked (the gate's state says so, replicas 1). It is scaled to 0 when
    parking is turned off, blind, out of the window, when the server does not say parked (a
    failure, a restart, unreadable), after park.maxParked, when the queue has read 0 for
    idle-after, when it keeps more than park.residue on the card, or when the card can no longer
    hold the residue with the floor's headroom (`has_parked_room`). With room to serve again (and
    the hysteresis) for park.cooldown, the controller unparks; an unpark with too little room is
    never asked. Otherwise it stays parked."""
    cmd = "guard"
    now = view.now
    assert state.parked_at is not None
    since = f"parked since {format_instant(state.parked_at)}"
    to_zero = {**cleared(state), **park_ended(state, now), YIELDED_AT: format_instant(now)}
    failed = {**to_zero, PARK_FAILURES: str(state.park_failures + 1)}

    def scale_to_zero(reason: Reason, message: str, changes: Mapping[str, str | None] = to_zero) -> Decision:
        return Decision(cmd, reason, f"scaling the parked server to 0 ({since}): {message}", replicas=0, annotations=changes)

    if settings.park is None:
        return scale_to_zero(Reason.PARK_OFF, "parking is off in the settings")
    if view.blind:
        return scale_to_zero(Reason.BLIND, f"blind: {view.blind_reason}")
    if not view.in_window and not (demand is not None and _demand_in_hours(settings, now)):
        return Decision(
            cmd,
            Reason.OUT_OF_WINDOW,
            f"scaling the parked server to 0 ({since}): outside the window ({_window_text(settings)})",
            replicas=0,
            annotations=night_cleared(state),
        )
    if server is not None and server.phase not in ("parked", "parking"):
        what = f"its state cannot be read: {server.problem}" if server.phase is None else f"the server says {server.phase}"
        return scale_to_zero(Reason.PARK_FAILED, f"{what} while the gate's state says parked", failed)
    # Another process stamped the park: a clock a little ahead of this one's counts from now; one
    # far ahead, or this process's clock jumping, leaves the park's length unknown: it ends.
    ahead = (state.parked_at - now).total_seconds()
    if view.clock_jumped or ahead > settings.max_age_seconds:
        why = (
            f"jumped {format_duration(abs(view.clock_jump_seconds))}"
            if view.clock_jumped
            else f"is {format_duration(ahead)} behind its stamp"
        )
        return scale_to_zero(Reason.MAX_PARKED, f"the park's length cannot be trusted: the wall clock {why}")
    parked_for = max(0.0, (now - state.parked_at).total_seconds())
    if parked_for >= settings.park.max_parked_seconds:
        limit = format_duration(settings.park.max_parked_seconds)
        return scale_to_zero(Reason.MAX_PARKED, f"parked {format_duration(parked_for)}, park.maxParked is {limit}")
    idle, idle_changes = _parked_idle(view, state, settings, demand)
    if idle is not None:
        return scale_to_zero(Reason.IDLE, idle)
    bound = settings.park.residue_bytes
    residue = residue_counted(view, state, settings)
    if residue > bound or (server is not None and server.reserved_bytes is not None and server.reserved_bytes > bound):
        measured = residue if residue > bound else server.reserved_bytes  # type: ignore[union-attr]
        kept = f"it keeps {format_size(measured)} on the card, more than park.residue {format_size(bound)}"
        return scale_to_zero(Reason.RESIDUE, kept, failed)
    if not has_parked_room(view, settings, residue):
        return scale_to_zero(Reason.NO_ROOM, f"no room even for the parked server: {_parked_text(view, settings, residue)}")
    holding = f"{since}: {_parked_text(view, settings, residue)}"
    clear_room: dict[str, str | None] = {ROOM_SINCE: None} if state.room_since is not None else {}
    if not has_room(view, settings, settings.hysteresis_bytes):
        return Decision(cmd, Reason.STILL_PARKED, f"{holding}; no room to serve yet", annotations={**idle_changes, **clear_room})
    work = demand.work(settings.demand.idle_after_seconds) if demand is not None and settings.demand is not None else None
    if control is not Control.FULL or work is False:
        why = "the controller unparks it" if work is not False else "nothing is queued"
        return Decision(cmd, Reason.STILL_PARKED, f"{holding}; room to serve again, {why}", annotations=idle_changes)
    return _unpark_after_cooldown(view, state, settings, holding, idle_changes)


def _parked_idle(view: View, state: GateState, settings: Settings, demand: Demand | None) -> tuple[str | None, dict[str, str | None]]:
    """The idle timer while parked, as while serving: why the park ends (the queue has read an
    explicit 0 for idle-after), or None and the timer's changes."""
    if demand is None or settings.demand is None:
        return None, {}
    if demand.queued != 0:
        clear = demand.queued is not None and state.idle_since is not None
        return None, ({IDLE_SINCE: None} if clear else {})
    if _restarted(state.idle_since, view) is not None:
        return None, {IDLE_SINCE: format_instant(view.now)}
    assert state.idle_since is not None
    empty = (view.now - state.idle_since).total_seconds()
    if empty >= settings.demand.idle_after_seconds:
        return f"the queue has been empty for {format_duration(empty)}", {}
    return None, {}


def _unpark_after_cooldown(
    view: View, state: GateState, settings: Settings, holding: str, idle_changes: Mapping[str, str | None]
) -> Decision:
    """Room to serve (with the hysteresis) for park.cooldown: unpark, the state first (an entry's
    intent: the park ends, the hold starts). Before that, the cool-down's timer (`room-since`)."""
    wait = park_cooldown(settings)
    restarted = _restarted(state.room_since, view)
    if restarted is not None and wait > 0:
        return Decision(
            "guard",
            Reason.STILL_PARKED,
            f"{holding}; room to serve again, unparking after {format_duration(wait)} of it{restarted}",
            annotations={**idle_changes, ROOM_SINCE: format_instant(view.now)},
        )
    held = (view.now - state.room_since).total_seconds() if state.room_since is not None and restarted is None else wait
    if held < wait:
        return Decision(
            "guard", Reason.STILL_PARKED, f"{holding}; room to serve for {format_duration(held)} of the {format_duration(wait)} needed"
        )
    now = format_instant(view.now)
    changes: dict[str, str | None] = {PARKED_AT: None, UNPARKED_AT: now, UNPARKS: str(state.unparks + 1), **park_ended(state, view.now)}
    changes.update({key: None for key, value in ((ROOM_SINCE, state.room_since), (YIELDED_AT, state.yielded_at)) if value is not None})
    return Decision(
        "preflight",
        Reason.UNPARKED,
        f"unparking the server: {_room_text(view, settings)}",
        annotations={**idle_changes, **changes},
        park="unpark",
    )


def carried_out(
    decision: Decision, state: GateState, settings: Settings, now: datetime, report: ParkReport | None, problem: str | None
) -> Decision:
    """A park's or an unpark's decision once the server answered: its figures recorded (a park's
    `PARKED_AT` is when it finished), or a scale to 0 when it failed, was refused, passed its
    bound or could not be asked (`problem`), or left more than park.residue on the card. Then
    nothing is worse than without parking: the card comes back as a yield gives it back."""
    op = decision.park
    assert op in ("park", "unpark"), decision
    bound = parked_residue_bound(settings)
    if problem is None and report is not None:
        kept = report.reserved_bytes
        if not (op == "park" and kept is not None and kept > bound):
            if op == "unpark":
                return replace(decision, annotations={**decision.annotations, LAST_UNPARK_SECONDS: f"{report.seconds:.1f}"})
            # The park's time is the decision's (the cycle has one clock reading): a reader sees it
            # once the record lands, after the park; the residue's settling counts from it.
            figures = {PARKED_AT: format_instant(now), LAST_PARK_SECONDS: f"{report.seconds:.1f}"}
            return replace(decision, annotations={**decision.annotations, **figures})
        reason, why = Reason.RESIDUE, f"the park left {format_size(kept)} on the card, more than park.residue {format_size(bound)}"
    else:
        reason, why = Reason.PARK_FAILED, f"the {op} failed: {problem or 'no answer'}"
    changes: dict[str, str | None] = {**cleared(state), YIELDED_AT: format_instant(now), PARK_FAILURES: str(state.park_failures + 1)}
    if op == "park":
        changes[YIELD_STREAK] = decision.annotations.get(YIELD_STREAK) or str(_streak_after(state, settings, now, False))
    else:
        changes.update({UNPARKED_AT: None, **park_ended(state, now)})
    return Decision("guard", reason, f"scaling the server to 0: {why}", replicas=0, annotations=changes)


def over_budget_tonight(state: GateState, now: datetime) -> int:
    """Over-budget yields tonight: none once OVER_BUDGET_NIGHT_SECONDS have passed since the last
    (demand with no window: nothing else ends a night)."""
    if state.over_budget_at is None or (now - state.over_budget_at).total_seconds() >= OVER_BUDGET_NIGHT_SECONDS:
        return 0
    return state.over_budget_yields


def decide_down(state: GateState, paused: tuple[str, ...] = ()) -> Decision:
    """The window's end (or, `paused` by these switches, the controller's pause): replicas 0
    whatever the metrics say, and a clean slate for the next night."""
    if paused:
        scaling = f"scaling {state.replicas} replica(s) to 0" if state.replicas else "not taking the card"
        return Decision("down", Reason.PAUSED, f"{_paused_text(paused)}: {scaling}", 0 if state.replicas else None, night_cleared(state))
    # The window's end ends a try with the night: whatever holds the card then is window-down's.
    ended = {TRY_UNTIL: None} if state.try_until is not None or state.try_unreadable is not None else {}
    tried = f"; {TRY_UNTIL} removed (the window's end ends a try)" if ended else ""
    night = {**night_cleared(state), **ended}
    if state.replicas == 0:
        return Decision("down", Reason.ALREADY_DOWN, f"already at 0 replicas{tried}", annotations=night)
    return Decision("down", Reason.WINDOW_END, f"scaling {state.replicas} replica(s) to 0{tried}", replicas=0, annotations=night)


def decide_tick(
    view: View,
    state: GateState,
    settings: Settings,
    demand: Demand | None = None,
    server: ServerState | None = None,
    control: Control = Control.NONE,
) -> Decision:
    """One tick of `gate run`: it decides as guard while holding (parking, and unparking as
    preflight would enter), as preflight while not, and, paused, as down (the card given back,
    the night cleared) and takes it nowhere."""
    paused = paused_by(state, settings)
    if paused:
        return decide_down(state, paused)
    if state.replicas >= 1:
        return decide_guard(view, state, settings, demand, server, control)
    return decide_preflight(view, state, settings, demand)


DECIDERS = {
    "preflight": decide_preflight,
    "guard": decide_guard,
    "tick": decide_tick,
}
COMMANDS = ("preflight", "guard", "down", "tick")


def step(
    command: str,
    view: View | None,
    state: GateState,
    settings: Settings,
    demand: Demand | None = None,
    server: ServerState | None = None,
    control: Control = Control.NONE,
) -> Decision:
    """One command's decision: the one place a command's decider is chosen, for the live
    commands, the controller (`tick`), `status`, the watchdog and the replay alike. `down` looks
    at no metrics (its view may be None); the others need one. Pause is read inside the
    deciders: `settings.enabled` and the Lease's switch (`state.paused`). `control` is what the
    caller may ask of the server's control port (park; park and unpark) and `server` what that
    port said of a parked server; preflight does neither."""
    if command == "down":
        return decide_down(state)
    if command not in DECIDERS:
        raise ValueError(f"invalid command {command!r}: expected one of {', '.join(COMMANDS)}")
    if view is None:
        raise ValueError(f"{command} decides from a view of the card, and was given none")
    if command == "preflight":
        return decide_preflight(view, state, settings, demand)
    return DECIDERS[command](view, state, settings, demand, server, control)
