"""The gate's state in the annotations of its Lease, `<deployment>-gate`: `gate.store`'s interface
over the API client (compare-and-swap on the Lease's resourceVersion).

A lost race (409) is the store's `Conflict` (as `LeaseConflict`, still the API's 409 for the
commands' exit status); any other failure is the API client's own error. A Lease deleted under
the gate (404 on the update) is created again with the state being written: the Role allows
`create`, and a record that cannot land must never wedge the controller (issue 24)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from gate.kube.client import KubeClient
from gate.kube.errors import KubeConflict, KubeNotFound
from gate.store import Conflict, StoredState

LEASE_LABELS = {"app.kubernetes.io/name": "tts", "app.kubernetes.io/component": "gate"}


class LeaseConflict(Conflict, KubeConflict):
    """The Lease changed since it was read: the store's race, and the API's 409."""


class LeaseStore:
    def __init__(self, kube: KubeClient, namespace: str, name: str):
        self.kube = kube
        self.namespace = namespace
        self.name = name

    def read(self) -> StoredState:
        try:
            lease = self.kube.get_lease(self.namespace, self.name)
        except KubeNotFound:
            return StoredState()
        meta = lease.get("metadata") or {}
        annotations = meta.get("annotations") or {}
        if not isinstance(annotations, dict):
            annotations = {}
        return StoredState({str(k): str(v) for k, v in annotations.items()}, str(meta.get("resourceVersion") or ""), lease)

    def put(self, read: StoredState, annotations: Mapping[str, str], dry_run: bool = False) -> StoredState:
        def create() -> dict[str, Any]:
            return self.kube.create_lease(self.namespace, self.name, LEASE_LABELS, dry_run=dry_run, annotations=dict(annotations))

        def update() -> dict[str, Any]:
            lease = copy.deepcopy(dict(read.lease))
            lease.setdefault("metadata", {})["annotations"] = dict(annotations)
            lease["metadata"]["resourceVersion"] = read.version
            return self.kube.update_lease(lease, dry_run=dry_run)

        # The first write creates the Lease with the state in it; one that appeared meanwhile is a 409.
        lease = _conflict_translated(create if read.version is None else lambda: _recreated_if_gone(update, create))
        meta = lease.get("metadata") or {}
        return StoredState(dict(annotations), str(meta.get("resourceVersion") or ""), lease)


def _recreated_if_gone(update: Callable[[], dict[str, Any]], create: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """The update; if the Lease is gone (deleted since it was read), created again in its place."""
    try:
        return update()
    except KubeNotFound:
        return create()


def _conflict_translated(write: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        return write()
    except KubeConflict as exc:
        raise LeaseConflict(exc.what, exc.detail, exc.status) from exc
