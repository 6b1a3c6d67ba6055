"""One run of a gate command: read the Deployment, observe the card, decide, act.

This is the only place that joins the pure policy to the source and the API client. Acting
follows one order: replicas first (a yield must reach the residents before anything else can
fail), then the state annotations, then the Event. A failed Event is a warning, not a failure:
the decision has been carried out.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from gate import policy
from gate.kube.client import KubeClient
from gate.kube.errors import KubeError
from gate.policy import Blind, Decision, GateState, Observation, Reason, Settings, View
from gate.sources import DeviceSource, Source, SourceError


@dataclass
class Outcome:
    command: str
    state: GateState
    decision: Decision
    view: View | None  # None for `down`, which looks at no metrics
    dry_run: bool
    applied: bool = False
    replicas_after: int | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def blind(self) -> bool:
        return self.view is not None and self.view.blind


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


def read_state(kube: KubeClient, settings: Settings) -> tuple[dict[str, Any], GateState]:
    deployment = kube.get_deployment(settings.namespace, settings.deployment)
    replicas = int((deployment.get("spec") or {}).get("replicas", 1))  # the API's own default is 1
    annotations = (deployment.get("metadata") or {}).get("annotations") or {}
    return deployment, GateState.from_annotations(replicas, annotations)


def run(
    command: str,
    settings: Settings,
    source: Source | None,
    kube: KubeClient,
    now: datetime,
    dry_run: bool = False,
    device: DeviceSource | None = None,
) -> Outcome:
    """Carry out `command` once. Raises KubeError when the API fails (nothing after it is done)."""
    deployment, state = read_state(kube, settings)
    if command == "down":
        view = None
        decision = policy.decide_down(state)
    else:
        assert source is not None
        view = look(source, settings, now, state, device)
        decision = policy.decide(command, view, state, settings)
    outcome = Outcome(command, state, decision, view, dry_run, replicas_after=state.replicas)
    if not dry_run:
        apply(kube, deployment, settings, outcome)
    return outcome


def apply(kube: KubeClient, deployment: dict[str, Any], settings: Settings, outcome: Outcome) -> None:
    decision = outcome.decision
    if decision.replicas is not None:
        outcome.replicas_after = kube.scale(settings.namespace, settings.deployment, decision.replicas)
        outcome.applied = True
    if decision.annotations:
        kube.annotate(settings.namespace, settings.deployment, dict(decision.annotations))
        outcome.applied = True
    if decision.replicas is not None or decision.refused:
        try:
            kube.record_event(deployment, event_reason(decision), decision.message, warning=decision.reason == Reason.BLIND)
        except KubeError as exc:
            outcome.warnings.append(f"the decision was carried out but its Event was not recorded: {exc}")


def event_reason(decision: Decision) -> str:
    """'preflight' + 'no-room' -> 'PreflightNoRoom'; guard yields read 'Yield...'."""
    prefix = {"preflight": "Preflight", "guard": "Yield", "down": "Down"}[decision.command]
    return prefix + "".join(part.capitalize() for part in decision.reason.value.split("-"))
