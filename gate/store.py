"""Where the gate keeps its state between runs, behind one interface: live, the annotations of a
Lease, `<deployment>-gate` (`gate.lease`); in the replay and tests, memory (`MemoryStore`).

Every mechanism (the controller, the CronJobs, the sidecar, a workstation) reads and writes it
there, and the gate's Role needs no verb that could change the server's pod template. Writes
are compare-and-swap: a `put` carries the version the run read, so a writer that lost a race
gets `Conflict` and nothing is written. The caller then reads again and either decides again
from what it finds (an intent not yet acted on) or merges its changes with
`policy.merge_state` (a yield already carried out), which never undoes another writer's work.
A store raises its own `Conflict` for a lost race (the Lease adapter translates the API's 409);
anything else fails as its backing fails (the Lease's as the API client's errors). Pure: no I/O.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from gate.policy import merge_state

# A yield's record is merged and written again this many times when other writers keep winning
# the race (each attempt re-reads: each loses only to a write that landed in between).
MERGE_ATTEMPTS = 5


class Conflict(Exception):
    """A write lost a race: the state changed since the version it carried was read."""


@dataclass(frozen=True)
class StoredState:
    """The state as one read found it: its annotations and the version a write must match."""

    annotations: Mapping[str, str] = field(default_factory=dict)
    version: str | None = None  # None: nothing stored yet (no Lease)
    lease: Mapping[str, Any] = field(default_factory=dict)  # the Lease as read, for the adapter's write


class StateStore(Protocol):
    def read(self) -> StoredState: ...

    def put(self, read: StoredState, annotations: Mapping[str, str], dry_run: bool = False) -> StoredState:
        """Replace the annotations if nothing changed since `read`; else `Conflict`."""
        ...


def apply_changes(annotations: Mapping[str, str], changes: Mapping[str, str | None]) -> dict[str, str]:
    result = dict(annotations)
    for key, value in changes.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    return result


def merge(store: StateStore, read: StoredState, changes: Mapping[str, str | None], attempts: int = MERGE_ATTEMPTS) -> StoredState:
    """Write `changes` made against `read`, merging with whatever other writers put since; raises
    `Conflict` only when every attempt lost a race, other errors as they come."""
    stored = read
    for attempt in itertools.count(1):
        try:
            return store.put(stored, merge_state(stored.annotations, changes, read.annotations))
        except Conflict:
            if attempt >= attempts:
                raise
            stored = store.read()
    raise AssertionError("unreachable")  # pragma: no cover


class MemoryStore:
    """The Lease's contract in memory: versions, conflicts and all."""

    def __init__(self, annotations: Mapping[str, str] | None = None):
        self.annotations: dict[str, str] | None = dict(annotations) if annotations is not None else None
        self.version = 0 if annotations is None else 1

    def read(self) -> StoredState:
        if self.annotations is None:
            return StoredState()
        return StoredState(dict(self.annotations), str(self.version))

    def put(self, read: StoredState, annotations: Mapping[str, str], dry_run: bool = False) -> StoredState:
        current = None if self.annotations is None else str(self.version)
        if read.version != current:
            raise Conflict("the state has been modified since it was read; read it again")
        if not dry_run:
            self.annotations = dict(annotations)
            self.version += 1
        return StoredState(dict(annotations), str(self.version))


class NoMemory:
    """A store that keeps nothing: every read finds no state. The replay's reactive reference runs
    on it, a gate that remembers no yield (no cool-down, no hysteresis, no start-up baseline)."""

    def read(self) -> StoredState:
        return StoredState()

    def put(self, read: StoredState, annotations: Mapping[str, str], dry_run: bool = False) -> StoredState:
        return StoredState()
