"""Where the gate keeps its state between runs, behind one interface: live, the annotations of a
Lease, `<deployment>-gate` (`gate.lease`); in the replay and tests, memory (`MemoryStore`).

Every mechanism (the controller, the CronJobs, the sidecar, a workstation) reads and writes it
there, and the gate's Role needs no verb that could change the server's pod template. Writes
are compare-and-swap: a `put` carries the resourceVersion the run read, so a writer that lost a
race gets 409 (`KubeConflict`) and nothing is written. The caller then reads again and either
decides again from what it finds (an intent not yet acted on) or merges its changes with
`policy.merge_state` (a yield already carried out), which never undoes another writer's work.
`MemoryStore` keeps the same contract in memory, for the replay and tests. Pure: no I/O here.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from gate.kube.errors import KubeConflict
from gate.policy import merge_state

# A yield's record is merged and written again this many times when other writers keep winning
# the race (each attempt re-reads: each loses only to a write that landed in between).
MERGE_ATTEMPTS = 5


@dataclass(frozen=True)
class Snapshot:
    """The state as one read found it: its annotations and the version a write must match."""

    annotations: Mapping[str, str] = field(default_factory=dict)
    version: str | None = None  # None: there is no Lease yet
    lease: Mapping[str, Any] = field(default_factory=dict)


class StateStore(Protocol):
    def read(self) -> Snapshot: ...

    def put(self, read: Snapshot, annotations: Mapping[str, str], dry_run: bool = False) -> Snapshot:
        """Replace the annotations if nothing changed since `read`; else KubeConflict."""
        ...


def apply_changes(annotations: Mapping[str, str], changes: Mapping[str, str | None]) -> dict[str, str]:
    result = dict(annotations)
    for key, value in changes.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    return result


def merge(store: StateStore, read: Snapshot, changes: Mapping[str, str | None], attempts: int = MERGE_ATTEMPTS) -> Snapshot:
    """Write `changes` made against `read`, merging with whatever other writers put since; raises
    KubeConflict only when every attempt lost a race, other KubeErrors as they come."""
    snapshot = read
    for attempt in itertools.count(1):
        try:
            return store.put(snapshot, merge_state(snapshot.annotations, changes, read.annotations))
        except KubeConflict:
            if attempt >= attempts:
                raise
            snapshot = store.read()
    raise AssertionError("unreachable")  # pragma: no cover


class MemoryStore:
    """The Lease's contract in memory: versions, conflicts and all."""

    def __init__(self, annotations: Mapping[str, str] | None = None):
        self.annotations: dict[str, str] | None = dict(annotations) if annotations is not None else None
        self.version = 0 if annotations is None else 1

    def read(self) -> Snapshot:
        if self.annotations is None:
            return Snapshot()
        return Snapshot(dict(self.annotations), str(self.version))

    def put(self, read: Snapshot, annotations: Mapping[str, str], dry_run: bool = False) -> Snapshot:
        current = None if self.annotations is None else str(self.version)
        if read.version != current:
            raise KubeConflict("update lease", "the object has been modified; please apply your changes to the latest version")
        if not dry_run:
            self.annotations = dict(annotations)
            self.version += 1
        return Snapshot(dict(annotations), str(self.version))
