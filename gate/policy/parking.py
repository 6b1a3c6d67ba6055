"""Warm standby: the server parked (its model in host memory, a residue on the card) instead of
scaled to 0 on a wake, and the decisions while it is parked: when it stays, when it comes back
(an unpark, as an entry), when it is scaled to 0 after all, and what a park's or an unpark's
answer from the server's control port makes of the decision (`carried_out`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

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
from gate.policy.rules import Control, Decision, Reason, in_demand_hours, room_text, streak_after, timer_restart, window_text
from gate.policy.settings import Settings
from gate.policy.state import (
    IDLE_SINCE,
    LAST_PARK_SECONDS,
    LAST_UNPARK_SECONDS,
    PARK_FAILURES,
    PARKED_AT,
    PARKS,
    ROOM_SINCE,
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


def park_cooldown(settings: Settings) -> float:
    """How long an unpark waits with room after a park (`park.cooldown`, fixed). A return from a
    park costs seconds, not a pod start and a model load, so the doubling that guards entries
    against a flapping resident is not needed: a wake that cuts an unpark short costs one park.
    `make bench` compares the values (docs/design.md, Warm standby)."""
    return settings.park.cooldown_seconds if settings.park is not None else 0.0


def _parked_text(view: View, settings: Settings, residue_bytes: int) -> str:
    return (
        f"free {format_size(view.free_bytes)} (total {format_size(view.total_bytes)} - residents {format_size(view.resident_bytes)}) "
        f"vs residue {format_size(residue_bytes)} + headroom {format_size(headroom_bytes(settings))}"
    )


def park_on_wake(view: View, state: GateState, settings: Settings, demand: Demand | None, control: Control) -> Decision | None:
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
    streak = streak_after(state, settings, view.now, view.clock_jumped)
    changes: dict[str, str | None] = {YIELDED_AT: format_instant(view.now), YIELD_STREAK: str(streak), PARKS: str(state.parks + 1)}
    if state.room_since is not None:
        changes[ROOM_SINCE] = None
    return Decision(
        "guard",
        Reason.PARKED,
        f"parking the server, no room to serve: {room_text(view, settings)}; the card holds the parked server: "
        f"{_parked_text(view, settings, residue)}",
        annotations=changes,
        park="park",
    )


def decide_parked(
    view: View, state: GateState, settings: Settings, demand: Demand | None, server: ServerState | None, control: Control
) -> Decision:
    """The server is parked (the gate's state says so, replicas 1). It is scaled to 0 when
    parking is turned off, blind, out of the window, when the server does not say parked (a
    failure, a restart, unreadable), after park.maxParked, when the queue has read 0 for
    idle-after, when it keeps more than park.residue on the card, or when the card can no longer
    hold the residue with the floor's headroom (`has_parked_room`). With room to serve again (and
    the hysteresis) for park.cooldown, the controller unparks; an unpark with too little room is
    never asked. Otherwise it stays parked."""
    ended = _park_cannot_go_on(view, state, settings, demand, server)
    if ended is not None:
        return ended
    idle, idle_changes = _parked_idle(view, state, settings, demand)
    if idle is not None:
        return _scaled_to_zero(view, state, Reason.IDLE, idle)
    residue = residue_counted(view, state, settings)
    outgrown = _residue_outgrown(view, state, settings, server, residue)
    if outgrown is not None:
        return outgrown
    assert state.parked_at is not None
    holding = f"parked since {format_instant(state.parked_at)}: {_parked_text(view, settings, residue)}"
    clear_room: dict[str, str | None] = {ROOM_SINCE: None} if state.room_since is not None else {}
    if not has_room(view, settings, settings.hysteresis_bytes):
        return Decision("guard", Reason.STILL_PARKED, f"{holding}; no room to serve yet", annotations={**idle_changes, **clear_room})
    work = demand.work(settings.demand.idle_after_seconds) if demand is not None and settings.demand is not None else None
    if control is not Control.FULL or work is False:
        why = "the controller unparks it" if work is not False else "nothing is queued"
        return Decision("guard", Reason.STILL_PARKED, f"{holding}; room to serve again, {why}", annotations=idle_changes)
    return _unpark_after_cooldown(view, state, settings, holding, idle_changes)


def _scaled_to_zero(
    view: View, state: GateState, reason: Reason, why: str, changes: Mapping[str, str | None] | None = None, failed: bool = False
) -> Decision:
    """The parked server scaled to 0, recorded as a yield (and, `failed`, a park failure), or
    with `changes` instead (the window's end clears the night)."""
    assert state.parked_at is not None
    if changes is None:
        changes = {**cleared(state), **park_ended(state, view.now), YIELDED_AT: format_instant(view.now)}
        if failed:
            changes = {**changes, PARK_FAILURES: str(state.park_failures + 1)}
    since = f"parked since {format_instant(state.parked_at)}"
    return Decision("guard", reason, f"scaling the parked server to 0 ({since}): {why}", replicas=0, annotations=changes)


def _park_cannot_go_on(
    view: View, state: GateState, settings: Settings, demand: Demand | None, server: ServerState | None
) -> Decision | None:
    """The park ends whatever the card holds: parking turned off, blind, out of the window (and
    of demand's hours), the server not saying parked, a park whose length cannot be trusted or
    that has lasted park.maxParked. None: it may go on."""
    assert state.parked_at is not None
    now = view.now
    if settings.park is None:
        return _scaled_to_zero(view, state, Reason.PARK_OFF, "parking is off in the settings")
    if view.blind:
        return _scaled_to_zero(view, state, Reason.BLIND, f"blind: {view.blind_reason}")
    if not view.in_window and not (demand is not None and in_demand_hours(settings, now)):
        return _scaled_to_zero(view, state, Reason.OUT_OF_WINDOW, f"outside the window ({window_text(settings)})", night_cleared(state))
    if server is not None and server.phase not in ("parked", "parking"):
        what = f"its state cannot be read: {server.problem}" if server.phase is None else f"the server says {server.phase}"
        return _scaled_to_zero(view, state, Reason.PARK_FAILED, f"{what} while the gate's state says parked", failed=True)
    # Another process stamped the park: a clock a little ahead of this one's counts from now; one
    # far ahead, or this process's clock jumping, leaves the park's length unknown: it ends.
    ahead = (state.parked_at - now).total_seconds()
    if view.clock_jumped or ahead > settings.max_age_seconds:
        why = (
            f"jumped {format_duration(abs(view.clock_jump_seconds))}"
            if view.clock_jumped
            else f"is {format_duration(ahead)} behind its stamp"
        )
        return _scaled_to_zero(view, state, Reason.MAX_PARKED, f"the park's length cannot be trusted: the wall clock {why}")
    parked_for = max(0.0, (now - state.parked_at).total_seconds())
    if parked_for >= settings.park.max_parked_seconds:
        limit = format_duration(settings.park.max_parked_seconds)
        return _scaled_to_zero(view, state, Reason.MAX_PARKED, f"parked {format_duration(parked_for)}, park.maxParked is {limit}")
    return None


def _residue_outgrown(view: View, state: GateState, settings: Settings, server: ServerState | None, residue: int) -> Decision | None:
    """The parked server keeps more than park.residue on the card (by the card's figures or its
    own), or the card can no longer hold its residue with the floor's headroom: it is scaled to
    0. None: the residue fits."""
    assert settings.park is not None
    bound = settings.park.residue_bytes
    if residue > bound or (server is not None and server.reserved_bytes is not None and server.reserved_bytes > bound):
        measured = residue if residue > bound else server.reserved_bytes  # type: ignore[union-attr]
        kept = f"it keeps {format_size(measured)} on the card, more than park.residue {format_size(bound)}"
        return _scaled_to_zero(view, state, Reason.RESIDUE, kept, failed=True)
    if not has_parked_room(view, settings, residue):
        return _scaled_to_zero(view, state, Reason.NO_ROOM, f"no room even for the parked server: {_parked_text(view, settings, residue)}")
    return None


def _parked_idle(view: View, state: GateState, settings: Settings, demand: Demand | None) -> tuple[str | None, dict[str, str | None]]:
    """The idle timer while parked, as while serving: why the park ends (the queue has read an
    explicit 0 for idle-after), or None and the timer's changes."""
    if demand is None or settings.demand is None:
        return None, {}
    if demand.queued != 0:
        clear = demand.queued is not None and state.idle_since is not None
        return None, ({IDLE_SINCE: None} if clear else {})
    if timer_restart(state.idle_since, view) is not None:
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
    restarted = timer_restart(state.room_since, view)
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
        f"unparking the server: {room_text(view, settings)}",
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
        changes[YIELD_STREAK] = decision.annotations.get(YIELD_STREAK) or str(streak_after(state, settings, now, False))
    else:
        changes.update({UNPARKED_AT: None, **park_ended(state, now)})
    return Decision("guard", reason, f"scaling the server to 0: {why}", replicas=0, annotations=changes)


__all__ = [
    "carried_out",
    "park_cooldown",
]
