"""The act cycle (`gate.cycle`) over an in-memory store and a target that logs every call: the
write order the live gate, the watchdog and the replay share, lost races, the watchdog's veto,
the give-back, and the clock check."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest

from gate import cycle, policy
from gate.cycle import ClockCheck, Scale
from gate.kube.errors import KubeUnavailable
from gate.policy import PodUsage, Reading, Reason, Settings
from gate.store import Conflict, MemoryStore, StoredState

NOW = datetime(2026, 11, 12, 2, 30, tzinfo=UTC)
GiB = 2**30
SETTINGS = Settings(namespace="tts", deployment="chatterbox-tts", floor_bytes=6 * GiB, total_bytes=15 * GiB)
ROOM = Reading(pods=(PodUsage("immich", "immich-ml-7d9f8b6c5d-x2k4p", 3 * GiB),))
CROWDED = Reading(pods=(PodUsage("immich", "immich-ml-7d9f8b6c5d-x2k4p", 10 * GiB),))


class Pod:
    """A target that logs its calls into `log` (shared with the store below) and can fail."""

    def __init__(self, log: list[str], replicas: int = 0, fail_read: bool = False, fail_scale: bool = False):
        self.log = log
        self.replicas = replicas
        self.generation = 1
        self.fail_read = fail_read
        self.fail_scale = fail_scale

    def read(self) -> Scale:
        self.log.append("read target")
        if self.fail_read:
            raise KubeUnavailable("get deployment tts/chatterbox-tts", "HTTP 503")
        return Scale(self.replicas, self.generation)

    def scale(self, replicas: int) -> int:
        self.log.append(f"scale {replicas}")
        if self.fail_scale:
            raise KubeUnavailable("scale deployment tts/chatterbox-tts", "HTTP 503")
        if replicas != self.replicas:
            self.replicas, self.generation = replicas, self.generation + 1
        return self.replicas

    def record(self, reason: str, message: str, warning: bool = False) -> None:
        self.log.append(f"event {reason}")


class Store(MemoryStore):
    """MemoryStore, logging its writes; `rivals` other writers win the next puts' races first."""

    def __init__(self, log: list[str], annotations: Mapping[str, str] | None = None, rivals: int = 0):
        super().__init__(annotations)
        self.log = log
        self.rivals = rivals

    def put(self, read: StoredState, annotations: Mapping[str, str], dry_run: bool = False) -> StoredState:
        if self.rivals:
            self.rivals -= 1
            rival = self.read()
            super().put(rival, {**rival.annotations, "rival.test/writes": str(self.rivals)})
        try:
            stored = super().put(read, annotations, dry_run)
        except Conflict:
            self.log.append("put: conflict")
            raise
        self.log.append("put " + ",".join(sorted(k.removeprefix("tts.gate/") for k in annotations)))
        return stored


def run(command: str, pod: Pod, store: Store, reading: Reading = ROOM, **kwargs) -> cycle.Outcome:
    return cycle.cycle(command, SETTINGS, store, pod, NOW, observe=lambda: reading, **kwargs)


def test_an_entry_writes_its_intent_before_it_scales():
    log: list[str] = []
    outcome = run("preflight", Pod(log), Store(log))
    assert outcome.decision.reason == Reason.ENTERED
    assert log == ["read target", "put entered-at,entry-generation,entry-unattributed-bytes", "scale 1", "event PreflightEntered"]


def test_an_urgent_yield_scales_before_it_records():
    log: list[str] = []
    store = Store(log, {policy.ENTERED_AT: "2026-11-12T02:29:00Z"})
    outcome = run("guard", Pod(log, replicas=1), store, CROWDED)
    assert outcome.decision.reason == Reason.NO_ROOM
    assert log == ["read target", "scale 0", "put yield-streak,yielded-at", "event YieldNoRoom"]


def test_two_lost_races_in_a_row_decide_again_twice_and_enter_once():
    log: list[str] = []
    store = Store(log, {}, rivals=2)
    outcome = run("tick", Pod(log), store)
    assert log.count("put: conflict") == 2 and log.count("read target") == 3  # each lost race reads again
    assert log.count("scale 1") == 1 and log.index("scale 1") > max(i for i, line in enumerate(log) if line.startswith("put"))
    assert outcome.decision.reason == Reason.ENTERED and store.annotations is not None
    assert store.annotations["rival.test/writes"] == "0"  # the rivals' writes are kept, not overwritten


def test_a_fresh_read_that_says_yield_after_a_lost_race_yields_first():
    """The controller, at 0 replicas and no room, clears a room-since; between its read and its
    write a CronJob took the card: the re-decision from the fresh read is a yield (no room),
    carried out scale first."""
    log: list[str] = []
    pod, store = Pod(log), Store(log, {policy.ROOM_SINCE: "2026-11-12T02:29:00Z"})
    store.rivals = 1
    real_put = store.put

    def taken_meanwhile(read: StoredState, annotations: Mapping[str, str], dry_run: bool = False) -> StoredState:
        if "put: conflict" not in log:  # before the first write: the CronJob's entry
            pod.replicas = 1
        return real_put(read, annotations, dry_run)

    store.put = taken_meanwhile  # type: ignore[method-assign]
    outcome = run("tick", pod, store, CROWDED)
    assert outcome.decision.reason == Reason.NO_ROOM and outcome.decision.command == "guard"
    recorded = next(i for i, line in enumerate(log) if line.startswith("put") and "yielded-at" in line)
    assert pod.replicas == 0 and log.index("scale 0") < recorded


def test_an_entry_whose_intent_never_lands_is_not_made():
    log: list[str] = []
    outcome = run("preflight", Pod(log), Store(log, {}, rivals=10))
    assert "scale 1" not in log and outcome.replicas_after == 0
    assert "intent could not be recorded" in outcome.warnings[0]


class Veto:
    def __init__(self, allowed: bool):
        self.allowed = allowed
        self.asked = 0

    @contextmanager
    def entering(self) -> Iterator[bool]:
        self.asked += 1
        yield self.allowed


def test_the_watchdogs_veto_is_asked_just_before_an_entry_and_holds():
    log: list[str] = []
    veto = Veto(False)
    outcome = run("preflight", Pod(log), Store(log), veto=veto)
    assert veto.asked == 1 and "scale 1" not in log
    assert "the watchdog stepped in" in outcome.warnings[0]
    assert run("guard", Pod([], replicas=1), Store([]), CROWDED, veto=veto).replicas_after == 0 and veto.asked == 1  # yields never ask


def test_the_give_back_reads_the_target_alone_before_its_scale():
    log: list[str] = []
    store = Store(log, {policy.ENTERED_AT: "2026-11-12T02:29:00Z", policy.YIELD_STREAK: "2"})
    outcome = cycle.give_back(SETTINGS, store, Pod(log, replicas=1), NOW, "no decision for 25s")
    assert outcome is not None and log == ["read target", "scale 0", "put yield-streak,yielded-at", f"event {cycle.WATCHDOG_EVENT}"]
    assert store.annotations is not None and store.annotations[policy.YIELD_STREAK] == "3"  # as the loop's own yield writes it


def test_the_give_back_scales_an_unreadable_target_and_leaves_one_at_zero_alone():
    log: list[str] = []
    assert cycle.give_back(SETTINGS, Store(log), Pod(log, fail_read=True), NOW, "x", record_it=False) is not None
    assert log == ["read target", "scale 0"]  # presumed held: the residents' side
    assert cycle.give_back(SETTINGS, Store([]), Pod([], replicas=0), NOW, "x") is None
    with pytest.raises(KubeUnavailable):
        cycle.give_back(SETTINGS, Store([]), Pod([], replicas=1, fail_scale=True), NOW, "x")


def test_the_give_back_does_not_depend_on_the_deciders(monkeypatch):
    def broken(*args, **kwargs):
        raise KeyError("surprise")

    monkeypatch.setitem(policy.DECIDERS, "guard", broken)
    pod = Pod([], replicas=1)
    outcome = cycle.give_back(SETTINGS, Store([]), pod, NOW, "the iteration failed")
    assert pod.replicas == 0 and outcome is not None and "its record is not (KeyError" in outcome.warnings[0]


def test_the_clock_check_finds_a_jump_beyond_the_interval_only():
    check = ClockCheck(10)
    assert check.jump(NOW, 100.0) == 0  # nothing to compare with
    assert check.jump(NOW + timedelta(seconds=10), 110.0) == 0
    assert check.jump(NOW + timedelta(seconds=29), 120.0) == 0  # 9 s off, within the interval: drift, not a jump
    assert check.jump(NOW + timedelta(hours=1, seconds=29), 130.0) == 3590
    assert check.jump(NOW + timedelta(seconds=40), 140.0) == -3599  # and back
    assert ClockCheck(0.02).tolerance == 1.0  # a fast test loop's interval: at least a second
