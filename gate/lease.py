"""The gate's state in the annotations of its Lease, `<deployment>-gate`: `gate.store`'s interface
over the API client (compare-and-swap on the Lease's resourceVersion)."""

from __future__ import annotations

import copy
from collections.abc import Mapping

from gate.kube.client import KubeClient
from gate.kube.errors import KubeNotFound
from gate.store import Snapshot

LEASE_LABELS = {"app.kubernetes.io/name": "tts", "app.kubernetes.io/component": "gate"}


class LeaseStore:
    def __init__(self, kube: KubeClient, namespace: str, name: str):
        self.kube = kube
        self.namespace = namespace
        self.name = name

    def read(self) -> Snapshot:
        try:
            lease = self.kube.get_lease(self.namespace, self.name)
        except KubeNotFound:
            return Snapshot()
        meta = lease.get("metadata") or {}
        annotations = meta.get("annotations") or {}
        if not isinstance(annotations, dict):
            annotations = {}
        return Snapshot({str(k): str(v) for k, v in annotations.items()}, str(meta.get("resourceVersion") or ""), lease)

    def put(self, read: Snapshot, annotations: Mapping[str, str], dry_run: bool = False) -> Snapshot:
        if read.version is None:
            # First write: create the Lease with the state in it; one that appeared meanwhile is a 409.
            lease = self.kube.create_lease(self.namespace, self.name, LEASE_LABELS, dry_run=dry_run, annotations=dict(annotations))
        else:
            lease = copy.deepcopy(dict(read.lease))
            lease.setdefault("metadata", {})["annotations"] = dict(annotations)
            lease["metadata"]["resourceVersion"] = read.version
            lease = self.kube.update_lease(lease, dry_run=dry_run)
        meta = lease.get("metadata") or {}
        return Snapshot(dict(annotations), str(meta.get("resourceVersion") or ""), lease)
