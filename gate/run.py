"""One run of a gate command: read the Deployment and the gate's state, observe the card, decide, act.

This is the only place that joins the pure policy to the sources and the API client.

Reading the card is one boundary: whatever happens inside it (a timeout, a parse error, any
exception) comes out as a reading or as blindness with a one-line reason, never as a crash.

Acting follows the residents, then the record:
- a yield the residents are owed (blind, no room) scales to zero first and then writes its
  state, merged and retried until it lands (`store.merge`); if it never lands, the state still
  reads as a yield (`GateState.from_annotations`), so no later decision differs;
- everything else writes its state first (an entry's intent, a cleared night) and acts after.
  A write that loses a race to another writer (409) is not re-applied: the run reads again and
  decides again from what it finds, so a fresh yield by the sidecar or a CronJob is never
  undone. An entry whose intent cannot be written is not made.
A failed Event is a warning, not a failure: the decision has been carried out.

The state lives in the gate's Lease (`gate.lease`, behind `gate.store`'s interface); old `tts.gate/*` annotations on the
Deployment (the first release kept its state there) are ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from gate import policy
from gate.kube.client import KubeClient
from gate.kube.errors import KubeConflict, KubeError
from gate.lease import LeaseStore
from gate.policy import Blind, Decision, Demand, GateState, Observation, Reason, Settings, View
from gate.sources import DeviceSource, Source, SourceError
from gate.store import Snapshot, StateStore, apply_changes, merge

# Decide again at most this many times when other writers keep changing the state under an
# intent (each attempt re-reads, so each loses only to a write that landed in between).
DECIDE_ATTEMPTS = 4


@dataclass
class Outcome:
    command: str
    now: datetime  # when the run decided: its report's time
    state: GateState
    decision: Decision
    view: View | None  # None for `down`, which looks at no metrics
    dry_run: bool
    demand: Demand | None = None
    deployment: dict[str, Any] = field(default_factory=dict)  # as read, for Events about it
    applied: bool = False
    replicas_after: int | None = None
    warnings: list[str] = field(default_factory=list)
    # A yield's state that could not be written (the API failed after the scale-down): the
    # controller writes it on its next iteration; meanwhile the state reads as a yield anyway.
    unwritten: Mapping[str, str | None] | None = None
    snapshot: Snapshot = field(default_factory=Snapshot)  # the state as this run's decision read it


def look(
    source: Source,
    settings: Settings,
    now: datetime,
    state: GateState | None = None,
    device: DeviceSource | None = None,
) -> View:
    """Read the source (and the device-level second opinion, when there is one) and make the
    gate's view of it. Never raises: whatever fails, the gate is blind and says why in one line."""
    observation: Observation
    try:
        observation = source.read()
        if device is not None:
            observation = replace(observation, device=_read_device(device))
    except SourceError as exc:
        observation = Blind(str(exc))
    except Exception as exc:  # a surprise in a source is blindness too, never a crash with the card held
        observation = Blind(f"reading {getattr(source, 'name', 'the source')} failed: {_one_line(exc)}")
    try:
        return policy.assess(observation, settings, now, state)
    except Exception as exc:
        in_window = settings.window.contains(now) if settings.window else True
        return View(now=now, in_window=in_window, blind_reason=f"the reading could not be assessed: {_one_line(exc)}")


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"


def _read_device(device: DeviceSource) -> policy.DeviceReading:
    try:
        return device.read_device()
    except SourceError as exc:
        raise SourceError(f"device source {device.name}: {exc}") from exc


def lease_name(settings: Settings) -> str:
    return f"{settings.deployment}-gate"


def store_for(kube: KubeClient, settings: Settings) -> LeaseStore:
    return LeaseStore(kube, settings.namespace, lease_name(settings))


def read_all(kube: KubeClient, settings: Settings) -> tuple[dict[str, Any], GateState, Snapshot]:
    """The Deployment (for replicas and Events), the gate's state, and the Lease as read."""
    deployment = kube.get_deployment(settings.namespace, settings.deployment)
    spec = deployment.get("spec") or {}
    replicas = int(spec.get("replicas", 1))  # the API's own default is 1
    generation = (deployment.get("metadata") or {}).get("generation")
    snapshot = store_for(kube, settings).read()
    state = GateState.from_annotations(replicas, snapshot.annotations, generation if isinstance(generation, int) else None)
    return deployment, state, snapshot


def read_state(kube: KubeClient, settings: Settings) -> tuple[dict[str, Any], GateState]:
    deployment, state, _ = read_all(kube, settings)
    return deployment, state


def write_state(kube: KubeClient, settings: Settings, changes: Mapping[str, str | None], dry_run: bool = False) -> None:
    """Merge `changes` into the state as it is now (a workstation's or `helm test`'s write)."""
    store = store_for(kube, settings)
    snapshot = store.read()
    if dry_run:
        if snapshot.version is not None:
            store.put(snapshot, apply_changes(snapshot.annotations, changes), dry_run=True)
        return
    merge(store, snapshot, changes)


# `status` and the runs below decide through the policy's one step.
decide = policy.step


def run(
    command: str,
    settings: Settings,
    source: Source | None,
    kube: KubeClient,
    now: datetime,
    dry_run: bool = False,
    device: DeviceSource | None = None,
    demand: Callable[[], Demand] | None = None,
    may_enter: Callable[[], bool] | None = None,
) -> Outcome:
    """Carry out `command` (preflight, guard, down, or `tick`: the controller's) once. Raises
    KubeError when the API fails before anything was done. `demand` probes the queue;
    `may_enter`, asked just before scaling up, lets a watchdog that has just yielded veto it."""
    deployment, state, snapshot = read_all(kube, settings)
    view = None
    reading = None
    if command != "down":
        assert source is not None
        view = look(source, settings, now, state, device)
        reading = demand() if demand is not None else None
    decision = decide(command, view, state, settings, reading)
    outcome = Outcome(
        command,
        now,
        state,
        decision,
        view,
        dry_run,
        demand=reading,
        deployment=deployment,
        replicas_after=state.replicas,
        snapshot=snapshot,
    )
    if not dry_run:
        apply(kube, settings, outcome, record_event=command != "tick", may_enter=may_enter)
    return outcome


def _urgent(decision: Decision) -> bool:
    """A yield the residents are owed now: scale first, record after."""
    return decision.replicas == 0 and decision.annotations.get(policy.YIELDED_AT) is not None


def apply(
    kube: KubeClient,
    settings: Settings,
    outcome: Outcome,
    record_event: bool = True,
    may_enter: Callable[[], bool] | None = None,
) -> None:
    """Carry out the decision (see the module's docstring for the order). The controller records
    its Events itself, on a change of reason."""
    store = store_for(kube, settings)
    if _urgent(outcome.decision):
        _scale(kube, settings, outcome, 0)
        changes = dict(outcome.decision.annotations)
        try:
            merge(store, outcome.snapshot, changes)
        except KubeError as exc:
            outcome.unwritten = changes
            outcome.warnings.append(f"the card was given back but the yield is not recorded yet (it still reads as one): {exc}")
    else:
        try:
            landed = _write_intent(kube, settings, store, outcome)
        except KubeError as exc:
            if outcome.decision.replicas != 0:
                raise  # nothing was done: an entry is not made without its intent
            landed = False  # giving the card back never waits for the state: it is tidied later
            outcome.warnings.append(f"the gate's state could not be written: {exc}")
        decision = outcome.decision
        if decision.replicas == 1 and not landed:
            outcome.warnings.append("not taking the card: its intent could not be recorded (other writers kept changing the state)")
        elif decision.replicas == 1 and may_enter is not None and not may_enter():
            outcome.warnings.append("not taking the card: the watchdog gave it back during this run")
        elif decision.replicas is not None:
            _scale(kube, settings, outcome, decision.replicas)
            if not landed:
                outcome.warnings.append("the card was given back but the gate's state could not be written; the next run tidies it")
    decision = outcome.decision
    if record_event and (decision.replicas is not None or decision.refused):
        record(kube, outcome.deployment, decision, outcome)


def _scale(kube: KubeClient, settings: Settings, outcome: Outcome, replicas: int) -> None:
    outcome.replicas_after = kube.scale(settings.namespace, settings.deployment, replicas)
    outcome.applied = True


def _write_intent(kube: KubeClient, settings: Settings, store: StateStore, outcome: Outcome) -> bool:
    """Write the decision's state before it acts; on a lost race read again and decide again
    (updating `outcome`). False when it never landed."""
    for _ in range(DECIDE_ATTEMPTS):
        changes = outcome.decision.annotations
        if not changes:
            return True
        try:
            store.put(outcome.snapshot, apply_changes(outcome.snapshot.annotations, changes))
            outcome.applied = True
            return True
        except KubeConflict:
            outcome.deployment, outcome.state, outcome.snapshot = read_all(kube, settings)
            outcome.replicas_after = outcome.state.replicas
            outcome.decision = decide(outcome.command, outcome.view, outcome.state, settings, outcome.demand)
            if _urgent(outcome.decision):
                # The fresh state says yield now (the card was taken meanwhile): residents first.
                _scale(kube, settings, outcome, 0)
                merge(store, outcome.snapshot, dict(outcome.decision.annotations))
                return True
    return False


def write_pending(kube: KubeClient, settings: Settings, read: Snapshot, changes: Mapping[str, str | None]) -> None:
    """Write a yield's state that an earlier iteration could not (raises KubeError if it still cannot)."""
    merge(store_for(kube, settings), read, changes)


def record(kube: KubeClient, deployment: dict[str, Any], decision: Decision, outcome: Outcome) -> None:
    try:
        kube.record_event(
            deployment,
            event_reason(decision),
            decision.message,
            # An unreadable pause annotation is someone's mistake to fix: a Warning, as blindness is.
            warning=decision.reason in (Reason.BLIND, Reason.OVER_BUDGET) or outcome.state.pause_unreadable is not None,
        )
    except KubeError as exc:
        outcome.warnings.append(f"the decision was carried out but its Event was not recorded: {exc}")


def event_reason(decision: Decision) -> str:
    """'preflight' + 'no-room' -> 'PreflightNoRoom'; guard yields read 'Yield...'."""
    prefix = {"preflight": "Preflight", "guard": "Yield", "down": "Down"}[decision.command]
    return prefix + "".join(part.capitalize() for part in decision.reason.value.split("-"))
