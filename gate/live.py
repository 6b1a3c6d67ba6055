"""The live side of the cycle (`gate.cycle`): the server's Deployment as its target, the gate's
Lease as its store, the metric sources as its eyes. This is the only place that joins the pure
cycle to the sources and the API client.

The state lives in the gate's Lease (`gate.lease`); old `tts.gate/*` annotations on the
Deployment (the first release kept its state there) are ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from gate import policy
from gate.cycle import Scale, look, one_line, read
from gate.kube.client import KubeClient
from gate.lease import LeaseStore
from gate.policy import Blind, GateState, Observation, ParkReport, ServerState, Settings, View
from gate.sources import DeviceSource, Source, SourceError
from gate.sources.control import ControlError, ServerControl
from gate.store import apply_changes, merge


class DeploymentTarget:
    """The server's Deployment, through the API client: read (replicas, generation), scaled
    through its scale subresource, and the object Events are recorded about (as last read); and
    the server's control port (`server`, for the loops that park; None: this caller never parks)."""

    def __init__(self, kube: KubeClient, namespace: str, name: str, server: ServerControl | None = None):
        self.kube = kube
        self.namespace = namespace
        self.name = name
        self.server = server
        self.deployment: dict[str, Any] = {}  # as last read

    def read(self) -> Scale:
        deployment = self.kube.get_deployment(self.namespace, self.name)
        self.deployment = deployment
        replicas = int((deployment.get("spec") or {}).get("replicas", 1))  # the API's own default is 1
        generation = (deployment.get("metadata") or {}).get("generation")
        return Scale(replicas, generation if isinstance(generation, int) else None)

    def scale(self, replicas: int) -> int:
        return self.kube.scale(self.namespace, self.name, replicas)

    def record(self, reason: str, message: str, warning: bool = False) -> None:
        deployment = self.deployment or self.kube.get_deployment(self.namespace, self.name)
        self.kube.record_event(deployment, reason, message, warning=warning)

    def _control(self) -> ServerControl:
        if self.server is None:
            raise ControlError("no control port is configured for this run (GATE_CONTROL_URL)")
        return self.server

    def park(self) -> ParkReport:
        return self._control().park()

    def unpark(self) -> ParkReport:
        return self._control().unpark()

    def server_state(self) -> ServerState:
        if self.server is None:
            return ServerState(None, problem="no control port is configured for this run (GATE_CONTROL_URL)")
        return self.server.state()


def lease_name(settings: Settings) -> str:
    return f"{settings.deployment}-gate"


def store_for(kube: KubeClient, settings: Settings) -> LeaseStore:
    return LeaseStore(kube, settings.namespace, lease_name(settings))


def target_for(kube: KubeClient, settings: Settings, server: ServerControl | None = None) -> DeploymentTarget:
    return DeploymentTarget(kube, settings.namespace, settings.deployment, server)


def observer(source: Source, device: DeviceSource | None = None) -> Callable[[], Observation]:
    """The card as the sources read it (and the device-level second opinion, when there is
    one): a reading, or blindness with a one-line reason. Never raises."""

    def observe() -> Observation:
        try:
            reading = source.read()
            if device is not None:
                reading = replace(reading, device=_read_device(device))
            return reading
        except SourceError as exc:
            return Blind(str(exc))
        except Exception as exc:  # a surprise in a source is blindness too, never a crash with the card held
            return Blind(f"reading {getattr(source, 'name', 'the source')} failed: {one_line(exc)}")

    return observe


def _read_device(device: DeviceSource) -> policy.DeviceReading:
    try:
        return device.read_device()
    except SourceError as exc:
        raise SourceError(f"device source {device.name}: {exc}") from exc


def look_live(
    source: Source, settings: Settings, now: datetime, state: GateState | None = None, device: DeviceSource | None = None
) -> View:
    """`status`'s and `helm test`'s look: the sources read once, assessed."""
    return look(observer(source, device), settings, now, state)


def read_state(kube: KubeClient, settings: Settings) -> tuple[dict[str, Any], GateState]:
    """The Deployment as read (for Events and its status) and the gate's state."""
    target = target_for(kube, settings)
    state, _ = read(target, store_for(kube, settings))
    return target.deployment, state


def write_state(kube: KubeClient, settings: Settings, changes: Mapping[str, str | None], dry_run: bool = False) -> None:
    """Merge `changes` into the state as it is now (a workstation's or `helm test`'s write)."""
    store = store_for(kube, settings)
    stored = store.read()
    if dry_run:
        if stored.version is not None:
            store.put(stored, apply_changes(stored.annotations, changes), dry_run=True)
        return
    merge(store, stored, changes)
