"""One cycle of the gate: read, look, decide (`policy.step`), act. The live commands (preflight,
guard, down), the controller's tick, the watchdog's give-back and `gate replay` all run it, over
two small interfaces passed in: a `StateStore` (the Lease live, memory in the replay) and a
`Target`, the thing being scaled (the server's Deployment live, the simulated pod in the replay).
So the replay measures the write order the live gate uses.

Reading the card is one boundary (`look`): whatever happens inside it (a timeout, a parse error,
any exception) comes out as a reading or as blindness with a one-line reason, never as a crash.

Acting (`act`) follows the residents, then the record:
- a yield the residents are owed (blind, no room) scales to zero first and then writes its
  state, merged and retried until it lands (`store.merge`); if it never lands, the state still
  reads as a yield (`GateState.from_annotations`), so no later decision differs;
- everything else writes its state first (an entry's intent, a cleared night) and acts after.
  A write that loses a race to another writer (`store.Conflict`) is not re-applied: the cycle
  reads again and decides again from what it finds, so a fresh yield by the sidecar or a CronJob
  is never undone. An entry whose intent cannot be written is not made, and one the watchdog
  vetoes (`EntryVeto`) is not made either.
A failed Event is a warning, not a failure: the decision has been carried out.

The watchdog's give-back (`give_back`) is the same cycle with a narrower read: the target alone
before its scale to zero (the Lease may be what hangs), the state after it, for the record.

Parking (warm standby) is a third action beside scaling, asked of the target's control port:
- what the caller may ask is `control` (`policy.Control`: the controller parks and unparks, the
  sidecar parks, the CronJobs neither); while the state says parked, the cycle reads the
  server's own state too (`Target.server_state`, which never raises) and the decider weighs it;
- a park is a give-back that keeps the pod: it is carried out first and recorded after (merged
  until it lands), like an urgent yield;
- an unpark is an entry: its state is written first (the intent) and it is asked only while the
  watchdog allows an entry;
- a park or an unpark that fails in any way (refused, failed, past its bound, unreachable, any
  exception) or leaves more than its residue on the card becomes a scale to 0 at once
  (`policy.carried_out`), recorded as a yield: nothing is ever worse than without parking.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from gate import policy
from gate.kube.errors import KubeError
from gate.policy import Blind, Control, Decision, Demand, GateState, Observation, ParkReport, Reason, ServerState, Settings, View
from gate.store import Conflict, StateStore, StoredState, apply_changes, merge

# Decide again at most this many times when other writers keep changing the state under an
# intent (each attempt re-reads, so each loses only to a write that landed in between).
DECIDE_ATTEMPTS = 4
# What a write the cycle can live without (a record, an Event) may fail with: the API's errors
# (the live target and store); a store that keeps losing its race. The replay's never fail.
WRITE_FAILURES = (KubeError, Conflict)


@dataclass(frozen=True)
class Scale:
    """The target as read: its desired replicas, and the generation a scale moves on."""

    replicas: int
    generation: int | None = None


class Target(Protocol):
    """The thing the gate scales, and parks."""

    def read(self) -> Scale: ...

    def scale(self, replicas: int) -> int:
        """Set the desired replicas; returns what the target now holds."""
        ...

    def record(self, reason: str, message: str, warning: bool = False) -> None:
        """An Event about the target (best effort: the caller warns when it fails)."""
        ...

    def park(self) -> ParkReport:
        """Park the server (its model to host memory); returns once it is parked, within the
        park's bound, or raises (refused, failed, past its bound, unreachable)."""
        ...

    def unpark(self) -> ParkReport:
        """Bring a parked server back to serving; as `park`."""
        ...

    def server_state(self) -> ServerState:
        """What the server says it is; never raises (unreadable: `phase` None and why)."""
        ...


class EntryVeto(Protocol):
    """The watchdog's say over an entry: `with veto.entering() as allowed:` around the scale-up.
    A give-back waits for an entry in flight to finish, so none lands after it."""

    def entering(self) -> AbstractContextManager[bool]: ...


@dataclass
class Outcome:
    command: str
    now: datetime  # when the cycle decided: its report's time
    state: GateState
    decision: Decision
    view: View | None  # None for `down`, which looks at no metrics
    dry_run: bool
    demand: Demand | None = None
    applied: bool = False
    replicas_after: int | None = None
    warnings: list[str] = field(default_factory=list)
    # A yield's state that could not be written (the API failed after the scale-down): the
    # controller tries it once more; meanwhile the state reads as a yield anyway.
    unwritten: Mapping[str, str | None] | None = None
    stored: StoredState = field(default_factory=StoredState)  # the state as this cycle's decision read it
    server: ServerState | None = None  # a parked server's own state, as read for the decision
    park_call: ParkCall | None = None  # the park or unpark asked in this cycle
    written: StoredState | None = None  # the state as an entry's (an unpark's) intent wrote it


@dataclass(frozen=True)
class ParkCall:
    """A park or an unpark asked of the server: how long it took as the server timed it, or why
    it failed (then the server was scaled to 0)."""

    op: str  # park, unpark
    seconds: float | None
    problem: str | None = None
    already: bool = False  # it was so already: nothing moved


def read(target: Target, store: StateStore) -> tuple[GateState, StoredState]:
    """The target's replicas and generation, and the gate's state as stored."""
    scale = target.read()
    stored = store.read()
    return GateState.from_annotations(scale.replicas, stored.annotations, scale.generation), stored


def look(
    observe: Callable[[], Observation], settings: Settings, now: datetime, state: GateState | None = None, clock_jump_seconds: float = 0.0
) -> View:
    """Read the card (`observe`) and make the gate's view of it. Never raises: whatever fails,
    the gate is blind and says why in one line."""
    try:
        observation = observe()
    except Exception as exc:  # a surprise in a source is blindness too, never a crash with the card held
        observation = Blind(f"reading the card failed: {one_line(exc)}")
    try:
        return policy.assess(observation, settings, now, state, clock_jump_seconds)
    except Exception as exc:
        in_window = settings.window.contains(now) if settings.window else True
        reason = f"the reading could not be assessed: {one_line(exc)}"
        return View(now=now, in_window=in_window, blind_reason=reason, clock_jump_seconds=clock_jump_seconds)


def one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"


def cycle(
    command: str,
    settings: Settings,
    store: StateStore,
    target: Target,
    now: datetime,
    observe: Callable[[], Observation] | None = None,
    probe: Callable[[], Demand | None] | None = None,
    veto: EntryVeto | None = None,
    clock_jump_seconds: float = 0.0,
    dry_run: bool = False,
    record_event: bool = True,
    control: Control = Control.NONE,
) -> Outcome:
    """Carry out `command` (preflight, guard, down, or `tick`: the controller's) once. Raises
    what the target or the store raise when they fail before anything was done. `down` reads
    no metrics; the others `observe` the card and `probe` the queue. `control` is what this
    caller may ask of the server's control port (module docstring)."""
    state, stored = read(target, store)
    view, demand, server = None, None, None
    if command != "down":
        assert observe is not None, f"{command} looks at the card"
        view = look(observe, settings, now, state, clock_jump_seconds)
        demand = probe() if probe is not None else None
        server = target.server_state() if state.parked and control is not Control.NONE else None
    decision = policy.step(command, view, state, settings, demand, server, control)
    outcome = Outcome(
        command, now, state, decision, view, dry_run, demand=demand, replicas_after=state.replicas, stored=stored, server=server
    )
    if not dry_run:
        act(outcome, settings, store, target, veto, record_event, control)
    return outcome


def parked_after(outcome: Outcome) -> bool:
    """Whether the server is parked once the cycle's decision was carried out (as far as it knows)."""
    decision, call = outcome.decision, outcome.park_call
    if outcome.dry_run:
        return outcome.state.parked  # nothing was done
    if decision.replicas == 0:
        return False
    if decision.park == "park":
        return call is not None and call.problem is None
    if decision.park == "unpark":
        return call is None  # not asked (vetoed, or its intent never landed): parked still
    return outcome.state.parked


def urgent(decision: Decision) -> bool:
    """A yield the residents are owed now: scale first, record after."""
    return decision.replicas == 0 and decision.annotations.get(policy.YIELDED_AT) is not None


def give_back_first(decision: Decision) -> bool:
    """A give-back to carry out before its record: an urgent yield, or a park."""
    return urgent(decision) or decision.park == "park"


def act(
    outcome: Outcome,
    settings: Settings,
    store: StateStore,
    target: Target,
    veto: EntryVeto | None = None,
    record_event: bool = True,
    control: Control = Control.NONE,
) -> None:
    """Carry out the decision, in the order the module's docstring gives. The controller records
    its Events itself, on a change of reason (`record_event` False)."""
    if give_back_first(outcome.decision):
        _give_back_first(outcome, settings, store, target)
    else:
        try:
            landed = _intent_first(outcome, settings, store, target, control)
        except KubeError as exc:
            if outcome.decision.replicas != 0:
                raise  # nothing was done: an entry (an unpark) is not made without its intent
            landed = False  # giving the card back never waits for the state: it is tidied later
            outcome.warnings.append(f"the gate's state could not be written: {exc}")
        if landed is not None:
            _carry_out(outcome, settings, store, target, veto, landed)
    decision = outcome.decision
    if record_event and (decision.replicas is not None or decision.refused or decision.park is not None):
        record(outcome, target, event_reason(decision))


def _give_back_first(outcome: Outcome, settings: Settings, store: StateStore, target: Target) -> None:
    """An urgent yield scales first; a park parks first (and, failing, scales to 0); then the
    record, merged until it lands."""
    if outcome.decision.park == "park":
        _ask(outcome, settings, target)
        if outcome.decision.replicas != 0:
            _record_yield(outcome, store, outcome.stored, outcome.decision.annotations)
            return
    _yield_first(outcome, store, target)


def _ask(outcome: Outcome, settings: Settings, target: Target) -> None:
    """Ask the server to park or unpark (the decision's `park`); the decision becomes what its
    answer makes of it (`policy.carried_out`): its figures recorded, or a scale to 0."""
    decision = outcome.decision
    op = decision.park
    assert op is not None
    report: ParkReport | None = None
    problem: str | None = None
    try:
        report = target.park() if op == "park" else target.unpark()
    except Exception as exc:  # whatever a park meets (refused, failed, its bound, a surprise): a scale to 0
        problem = str(exc) if str(exc) and "\n" not in str(exc) else one_line(exc)
    outcome.park_call = ParkCall(op, report.seconds if report is not None else None, problem, report is not None and report.already)
    outcome.decision = policy.carried_out(decision, outcome.state, settings, outcome.now, report, problem)
    outcome.applied = True


def _yield_first(outcome: Outcome, store: StateStore, target: Target) -> None:
    _scale(outcome, target, 0)
    _record_yield(outcome, store, outcome.stored, outcome.decision.annotations)


def _record_yield(outcome: Outcome, store: StateStore, stored: StoredState, changes: Mapping[str, str | None]) -> None:
    """After the scale-down: the yield's state, merged until it lands; unwritten, it is kept on
    the outcome for one more try (and reads as a yield meanwhile)."""
    try:
        merge(store, stored, changes)
    except WRITE_FAILURES as exc:
        outcome.unwritten = dict(changes)
        outcome.warnings.append(f"the card was given back but the yield is not recorded yet (it still reads as one): {exc}")


def _intent_first(outcome: Outcome, settings: Settings, store: StateStore, target: Target, control: Control) -> bool | None:
    """Write the decision's state before it acts; on a lost race read again and decide again
    (updating `outcome`). False when it never landed; None when the fresh read said yield (or
    park) now, and that was carried out."""
    for _ in range(DECIDE_ATTEMPTS):
        changes = outcome.decision.annotations
        if not changes:
            return True
        try:
            outcome.written = store.put(outcome.stored, apply_changes(outcome.stored.annotations, changes))
            outcome.applied = True
            return True
        except Conflict:
            outcome.state, outcome.stored = read(target, store)
            outcome.replicas_after = outcome.state.replicas
            if outcome.server is None and outcome.state.parked and control is not Control.NONE:
                outcome.server = target.server_state()
            outcome.decision = policy.step(outcome.command, outcome.view, outcome.state, settings, outcome.demand, outcome.server, control)
            if give_back_first(outcome.decision):
                # The fresh state says give the card back now (taken meanwhile): residents first.
                _give_back_first(outcome, settings, store, target)
                return None
    return False


def _carry_out(outcome: Outcome, settings: Settings, store: StateStore, target: Target, veto: EntryVeto | None, landed: bool) -> None:
    """Scale (or unpark) as decided, once the state is written (`landed`): an entry only then,
    and only while the watchdog allows it; a give-back whatever the state write did."""
    replicas = outcome.decision.replicas
    if outcome.decision.park == "unpark":
        _unpark(outcome, settings, store, target, veto, landed)
        return
    if replicas is None:
        return
    if replicas >= 1:
        with _entry(outcome, veto, landed, "taking the card") as allowed:
            if allowed:
                _scale(outcome, target, replicas)
        return
    _scale(outcome, target, replicas)
    if not landed:
        outcome.warnings.append("the card was given back but the gate's state could not be written; the next run tidies it")


def _unpark(outcome: Outcome, settings: Settings, store: StateStore, target: Target, veto: EntryVeto | None, landed: bool) -> None:
    """An unpark is an entry: only once its intent landed and while the watchdog allows it. A
    failed one is a scale to 0 at once, recorded after (merged over the intent it wrote)."""
    with _entry(outcome, veto, landed, "unparking") as allowed:
        if not allowed:
            return
        _ask(outcome, settings, target)
        if outcome.decision.replicas != 0:
            return
        _scale(outcome, target, 0)
    _record_yield(outcome, store, outcome.written or outcome.stored, outcome.decision.annotations)


@contextmanager
def _entry(outcome: Outcome, veto: EntryVeto | None, landed: bool, doing: str) -> Iterator[bool]:
    """Whether an entry (a scale up, an unpark) may go ahead: only once its intent landed, and
    only while the watchdog allows it, held for the whole body. A refusal is a warning naming
    what was not done (`doing`)."""
    if not landed:
        outcome.warnings.append(f"not {doing}: its intent could not be recorded (other writers kept changing the state)")
        yield False
        return
    with veto.entering() if veto is not None else nullcontext(True) as allowed:
        if not allowed:
            outcome.warnings.append(f"not {doing}: the watchdog stepped in during this run")
        yield allowed


def _scale(outcome: Outcome, target: Target, replicas: int) -> None:
    outcome.replicas_after = target.scale(replicas)
    outcome.applied = True


def record(outcome: Outcome, target: Target, reason: str) -> None:
    """The decision's Event on the target; a failure is a warning on the outcome."""
    decision = outcome.decision
    try:
        target.record(
            reason,
            decision.message,
            # An unreadable pause annotation is someone's mistake to fix: a Warning, as blindness is;
            # so is a try that cannot be honoured, where it is what kept the card.
            warning=decision.reason in WARNINGS
            or outcome.state.pause_unreadable is not None
            or (decision.reason == Reason.OUT_OF_WINDOW and outcome.view is not None and outcome.view.try_ignored is not None),
        )
    except KubeError as exc:
        outcome.warnings.append(f"the decision was carried out but its Event was not recorded: {exc}")


# Reasons whose Event is a Warning: the gate lost sight, or something needs a person.
WARNINGS = (Reason.BLIND, Reason.OVER_BUDGET, Reason.PARK_FAILED, Reason.RESIDUE)


def event_reason(decision: Decision) -> str:
    """'preflight' + 'no-room' -> 'PreflightNoRoom'; guard yields read 'Yield...'."""
    prefix = {"preflight": "Preflight", "guard": "Yield", "down": "Down"}[decision.command]
    return prefix + "".join(part.capitalize() for part in decision.reason.value.split("-"))


WATCHDOG_EVENT = "YieldWatchdog"


def give_back(settings: Settings, store: StateStore, target: Target, now: datetime, why: str, record_it: bool = True) -> Outcome | None:
    """The watchdog's cycle, blind by definition (`why`): read the target alone; holding (or
    unreadable: presumed holding, the residents' side), scale to 0 first. Its verdict needs no
    decider (a decider may be what failed). Then, with `record_it`, read the state and decide
    the record through `policy.step` (the yield's time and streak, as the loop's own blind yield
    would write them) and record an Event; a record that fails is a warning. None when the
    target reads 0 replicas: nothing to give back. Raises when the scale fails."""
    try:
        scale: Scale | None = target.read()
    except KubeError:
        scale = None
    if scale is not None and scale.replicas < 1:
        return None
    held = GateState(scale.replicas if scale is not None else 1, generation=scale.generation if scale is not None else None)
    verdict = Decision("guard", Reason.BLIND, f"yielding the card, blind: {why}", replicas=0)
    outcome = Outcome("guard", now, held, verdict, None, False, replicas_after=held.replicas)
    _scale(outcome, target, 0)
    if record_it:
        _record_give_back(outcome, settings, store, target, why)
    return outcome


def _record_give_back(outcome: Outcome, settings: Settings, store: StateStore, target: Target, why: str) -> None:
    try:
        stored = store.read()
        state = GateState.from_annotations(outcome.state.replicas, stored.annotations, outcome.state.generation)
        view = look(lambda: Blind(why), settings, outcome.now, state)
        decision = policy.step("guard", view, state, settings)
    except Exception as exc:  # the card is back: nothing here may undo that or stop the watchdog
        outcome.warnings.append(f"the card is back; its record is not ({one_line(exc)}): it still reads as a yield")
    else:
        outcome.state, outcome.stored, outcome.view = state, stored, view
        if decision.replicas == 0:
            outcome.decision = decision
            _record_yield(outcome, store, stored, decision.annotations)
    record(outcome, target, WATCHDOG_EVENT)


class ClockCheck:
    """A process's wall clock checked against its monotonic clock from one look to the next: a
    difference beyond `tolerance_seconds` (the loop's interval, at least a second) is a jump
    (an NTP step, a suspended VM, a hand-set clock), which the policy answers by restarting its
    stored timers. The first look has nothing to compare with."""

    def __init__(self, tolerance_seconds: float):
        self.tolerance = max(tolerance_seconds, 1.0)
        self.last: tuple[datetime, float] | None = None

    def jump(self, wall: datetime, monotonic: float) -> float:
        """Seconds the wall clock moved beyond the monotonic clock since the last call, when
        that exceeds the tolerance; else 0."""
        last, self.last = self.last, (wall, monotonic)
        if last is None:
            return 0.0
        drift = (wall - last[0]).total_seconds() - (monotonic - last[1])
        return drift if abs(drift) > self.tolerance else 0.0
