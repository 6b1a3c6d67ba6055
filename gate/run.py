"""One run of a gate command: read the Deployment and the gate's state, observe the card, decide, act.

This is the only place that joins the pure policy to the sources and the API client. Acting
follows one order: replicas first (a yield must reach the residents before anything else can
fail), then the state, then the Event. A failed Event is a warning, not a failure: the decision
has been carried out.

The state lives in the annotations of a Lease, `<deployment>-gate`, beside the Deployment: every
caller (the controller, the CronJobs, the sidecar, a workstation) reads and writes it there, and
the gate's Role needs no verb that could change the server's pod template. A write is the
decision's changes merged into the Lease as read and PUT back with its resourceVersion: a writer
that lost a race gets 409, reads again and merges its changes key by key into what won, once;
nothing ever overwrites the whole state blindly. Old `tts.gate/*` annotations on the Deployment
(the first release kept its state there) are ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from gate import policy
from gate.kube.client import KubeClient
from gate.kube.errors import KubeConflict, KubeError, KubeNotFound
from gate.policy import Blind, Decision, Demand, GateState, Observation, Reason, Settings, View
from gate.sources import DeviceSource, Source, SourceError


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


def look(
    source: Source,
    settings: Settings,
    now: datetime,
    state: GateState | None = None,
    device: DeviceSource | None = None,
) -> View:
    """Read the source (and the device-level second opinion, when there is one) and make the
    gate's view of it; either source failing leaves the gate blind."""
    observation: Observation
    try:
        observation = source.read()
        if device is not None:
            observation = replace(observation, device=_read_device(device))
    except SourceError as exc:
        observation = Blind(str(exc))
    return policy.assess(observation, settings, now, state)


def _read_device(device: DeviceSource) -> policy.DeviceReading:
    try:
        return device.read_device()
    except SourceError as exc:
        raise SourceError(f"device source {device.name}: {exc}") from exc


LEASE_LABELS = {"app.kubernetes.io/name": "tts", "app.kubernetes.io/component": "gate"}


def lease_name(settings: Settings) -> str:
    return f"{settings.deployment}-gate"


def read_state(kube: KubeClient, settings: Settings) -> tuple[dict[str, Any], GateState]:
    """The Deployment (for replicas and Events) and the gate's state from its Lease (none yet:
    no state)."""
    deployment = kube.get_deployment(settings.namespace, settings.deployment)
    replicas = int((deployment.get("spec") or {}).get("replicas", 1))  # the API's own default is 1
    try:
        lease = kube.get_lease(settings.namespace, lease_name(settings))
        annotations = (lease.get("metadata") or {}).get("annotations") or {}
    except KubeNotFound:
        annotations = {}
    return deployment, GateState.from_annotations(replicas, annotations)


def write_state(kube: KubeClient, settings: Settings, changes: dict[str, str | None], dry_run: bool = False) -> None:
    """Merge `changes` (None removes a key) into the Lease's annotations; create the Lease first
    when it is missing; on a lost race, read again and merge into what won, once."""
    for attempt in (1, 2):
        lease, existed = _lease(kube, settings, dry_run)
        if dry_run and not existed:
            return  # the dry-run create was authorized and persisted nothing: there is nothing to update
        meta = lease.setdefault("metadata", {})
        annotations = dict(meta.get("annotations") or {})
        for key, value in changes.items():
            if value is None:
                annotations.pop(key, None)
            else:
                annotations[key] = value
        meta["annotations"] = annotations
        try:
            kube.update_lease(lease, dry_run=dry_run)
            return
        except KubeConflict:
            if attempt == 2:
                raise


def _lease(kube: KubeClient, settings: Settings, dry_run: bool) -> tuple[dict[str, Any], bool]:
    """The Lease, created when missing; and whether it existed already."""
    namespace, name = settings.namespace, lease_name(settings)
    try:
        return kube.get_lease(namespace, name), True
    except KubeNotFound:
        try:
            return kube.create_lease(namespace, name, LEASE_LABELS, dry_run=dry_run), False
        except KubeConflict:  # another run created it between our read and our create
            return kube.get_lease(namespace, name), True


def run(
    command: str,
    settings: Settings,
    source: Source | None,
    kube: KubeClient,
    now: datetime,
    dry_run: bool = False,
    device: DeviceSource | None = None,
    demand: Callable[[], Demand] | None = None,
    enabled: bool = True,
) -> Outcome:
    """Carry out `command` (preflight, guard, down, or `tick`: the controller's) once. Raises
    KubeError when the API fails (nothing after it is done). `demand` probes the queue."""
    deployment, state = read_state(kube, settings)
    reading = None
    if command == "down":
        view = None
        decision = policy.decide_down(state)
    else:
        assert source is not None
        view = look(source, settings, now, state, device)
        reading = demand() if demand is not None else None
        if command == "tick":
            decision = policy.decide_tick(view, state, settings, reading, enabled)
        else:
            decision = policy.decide(command, view, state, settings, reading)
    outcome = Outcome(command, now, state, decision, view, dry_run, demand=reading, deployment=deployment, replicas_after=state.replicas)
    if not dry_run:
        apply(kube, deployment, settings, outcome, record_event=command != "tick")
    return outcome


def apply(kube: KubeClient, deployment: dict[str, Any], settings: Settings, outcome: Outcome, record_event: bool = True) -> None:
    """Carry out the decision. The controller records its Events itself, on a change of reason."""
    decision = outcome.decision
    if decision.replicas is not None:
        outcome.replicas_after = kube.scale(settings.namespace, settings.deployment, decision.replicas)
        outcome.applied = True
    if decision.annotations:
        try:
            write_state(kube, settings, dict(decision.annotations))
            outcome.applied = True
        except KubeConflict as exc:
            outcome.warnings.append(f"the gate's state changed twice under this run; its own change was dropped: {exc}")
    if record_event and (decision.replicas is not None or decision.refused):
        record(kube, deployment, decision, outcome)


def record(kube: KubeClient, deployment: dict[str, Any], decision: Decision, outcome: Outcome) -> None:
    try:
        kube.record_event(deployment, event_reason(decision), decision.message, warning=decision.reason == Reason.BLIND)
    except KubeError as exc:
        outcome.warnings.append(f"the decision was carried out but its Event was not recorded: {exc}")


def event_reason(decision: Decision) -> str:
    """'preflight' + 'no-room' -> 'PreflightNoRoom'; guard yields read 'Yield...'."""
    prefix = {"preflight": "Preflight", "guard": "Yield", "down": "Down"}[decision.command]
    return prefix + "".join(part.capitalize() for part in decision.reason.value.split("-"))
