"""The deciders: what each command does with a view of the card and the gate's state.

`step` is the one place a command's decider is chosen. Every decider returns a `Decision` (one
reason drives the Event, the metric and the log line); none reads a clock or does I/O. The rules
they share are `rules`; a parked server's decisions are `parking`'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

from gate.policy.observation import Demand, ServerState, View, has_room
from gate.policy.parking import decide_parked, park_on_wake
from gate.policy.rules import (
    OVER_BUDGET_LIMIT,
    OVER_BUDGET_SLACK_BYTES,
    Control,
    Decision,
    Reason,
    barred,
    cooldown,
    in_demand_hours,
    over_budget,
    over_budget_tonight,
    paused_by,
    paused_text,
    room_text,
    timer_restart,
    window_text,
    yield_changes,
)
from gate.policy.settings import Settings
from gate.policy.state import (
    ENTERED_AT,
    ENTRY_GENERATION,
    ENTRY_UNATTRIBUTED,
    IDLE_SINCE,
    OVER_BUDGET_AT,
    OVER_BUDGET_YIELDS,
    ROOM_SINCE,
    TRY_UNTIL,
    YIELD_STREAK,
    GateState,
    cleared,
    night_cleared,
    park_ended,
)
from gate.units import format_duration, format_instant, format_size


def decide_preflight(view: View, state: GateState, settings: Settings, demand: Demand | None = None) -> Decision:
    """Take the card (replicas 1) only inside the window (or with work queued in demand's hours),
    with room, past any cool-down, and not in the window's last minutes."""
    cmd = "preflight"
    now = view.now
    clear_room: dict[str, str | None] = {ROOM_SINCE: None} if state.room_since is not None else {}
    paused = paused_by(state, settings)
    if paused:
        return Decision(cmd, Reason.PAUSED, f"not taking the card: {paused_text(paused)}")
    demand = demand if settings.demand is not None else None
    # A failed probe is no action: the last count stands for idle-after; then the window rules.
    work = demand.work(settings.demand.idle_after_seconds) if demand is not None and settings.demand is not None else None
    by_demand = work is True and in_demand_hours(settings, now)
    if state.replicas >= 1:
        return Decision(cmd, Reason.ALREADY_UP, f"already at {state.replicas} replica(s)")
    if not view.in_window and not by_demand:
        why = (f"; {demand}" if demand is not None else "") + _try_text(view, state)
        return Decision(cmd, Reason.OUT_OF_WINDOW, f"outside the window ({window_text(settings)}){why}", annotations=clear_room)
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
        return Decision(cmd, Reason.NO_ROOM, f"no room: {room_text(view, settings)}", annotations=clear_room)
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
    Its timer (`room-since`) restarts as a wake would when it cannot be trusted (`timer_restart`)."""
    cmd = "preflight"
    assert state.yielded_at is not None
    if not has_room(view, settings, settings.hysteresis_bytes):
        return Decision(
            cmd,
            Reason.COOLING_DOWN,
            f"after a yield, re-entry needs {format_size(settings.hysteresis_bytes)} above the floor: {room_text(view, settings)}",
            annotations=clear_room,
        )
    wait = cooldown(state, settings)
    streak = f", yield {state.yield_streak} in a row" if state.yield_streak else ", the yield streak unreadable"
    restarted = timer_restart(state.room_since, view)
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
        f"taking the card: {room_text(view, settings)}{work_text}",
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
    residue parks the server instead; a parked server is decided by `decide_parked` (`server`:
    its control port's answer, read while the gate's state says parked)."""
    cmd = "guard"
    now = view.now
    if state.replicas < 1:
        return Decision(cmd, Reason.NOT_HOLDING, "not holding the card")
    paused = paused_by(state, settings)
    if paused:
        # A pause is not a resident's wake: no cool-down after it.
        changes = {**cleared(state), **park_ended(state, now)}
        return Decision(cmd, Reason.PAUSED, f"yielding the card: {paused_text(paused)}", replicas=0, annotations=changes)
    demand = demand if settings.demand is not None else None
    if state.parked:
        return decide_parked(view, state, settings, demand, server, control)
    yielded = yield_changes(state, settings, now, view.clock_jumped)
    if view.blind:
        return Decision(cmd, Reason.BLIND, f"yielding the card, blind: {view.blind_reason}", replicas=0, annotations=yielded)
    if not view.in_window and not (demand is not None and in_demand_hours(settings, now)):
        # The window's end is not a resident's wake: the next window starts without a cool-down.
        return Decision(
            cmd,
            Reason.OUT_OF_WINDOW,
            f"yielding the card, outside the window ({window_text(settings)}){_try_text(view, state)}",
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
        park = park_on_wake(view, state, settings, demand, control)
        if park is not None:
            return park
        return Decision(cmd, Reason.NO_ROOM, f"yielding the card, no room: {room_text(view, settings)}", replicas=0, annotations=yielded)
    holding = f"holding the card: {room_text(view, settings)}{_trying_text(view)}"
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
        restarted = timer_restart(state.idle_since, view)
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


def decide_down(state: GateState, paused: tuple[str, ...] = ()) -> Decision:
    """The window's end (or, `paused` by these switches, the controller's pause): replicas 0
    whatever the metrics say, and a clean slate for the next night."""
    if paused:
        scaling = f"scaling {state.replicas} replica(s) to 0" if state.replicas else "not taking the card"
        return Decision("down", Reason.PAUSED, f"{paused_text(paused)}: {scaling}", 0 if state.replicas else None, night_cleared(state))
    # The window's end ends a try with the night: whatever holds the card then is window-down's.
    ended = {TRY_UNTIL: None} if state.try_until is not None or state.try_unreadable is not None else {}
    tried = f"; {TRY_UNTIL} removed (the window's end ends a try)" if ended else ""
    night = {**night_cleared(state), **ended}
    if state.replicas == 0:
        return Decision("down", Reason.ALREADY_DOWN, f"already at 0 replicas{tried}", annotations=night)
    return Decision("down", Reason.WINDOW_END, f"scaling {state.replicas} replica(s) to 0{tried}", replicas=0, annotations=night)


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
    port said of a parked server; preflight does neither.

    A `tick` (one of `gate run`'s) decides as guard while holding (parking, and unparking as
    preflight would enter), as preflight while not, and, paused, as down (the card given back,
    the night cleared) and takes it nowhere."""
    if command == "down":
        return decide_down(state)
    if command not in COMMANDS:
        raise ValueError(f"invalid command {command!r}: expected one of {', '.join(COMMANDS)}")
    if view is None:
        raise ValueError(f"{command} decides from a view of the card, and was given none")
    if command == "tick":
        paused = paused_by(state, settings)
        if paused:
            return decide_down(state, paused)
        command = "guard" if state.replicas >= 1 else "preflight"
    if command == "preflight":
        return decide_preflight(view, state, settings, demand)
    return DECIDERS[command](view, state, settings, demand, server, control)


# One tick of `gate run` (the controller), for the callers that name it: `step`'s "tick".
decide_tick = partial(step, "tick")
DECIDERS = {
    "preflight": decide_preflight,
    "guard": decide_guard,
    "tick": decide_tick,
}
COMMANDS = ("preflight", "guard", "down", "tick")


__all__ = [
    "COMMANDS",
    "DECIDERS",
    "decide_down",
    "decide_guard",
    "decide_preflight",
    "decide_tick",
    "step",
]
