"""Warm standby, decided: the parked rule and every way out of a park as tables (policy), the
write order of a park and an unpark (cycle, over a memory store and a stand-in target), and a
short night replayed by hand."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from gate import cycle
from gate.cli import app
from gate.cycle import Scale
from gate.policy import (
    IDLE_SINCE,
    LAST_PARK_SECONDS,
    PARK_FAILURES,
    PARKED_AT,
    PARKED_SECONDS,
    PARKS,
    ROOM_SINCE,
    UNPARKED_AT,
    UNPARKS,
    YIELD_STREAK,
    YIELDED_AT,
    Blind,
    Control,
    Demand,
    DemandSettings,
    GateState,
    ParkReport,
    ParkSettings,
    PodUsage,
    Reading,
    Reason,
    ServerState,
    Settings,
    assess,
    carried_out,
    decide_tick,
    step,
)
from gate.replay import PodModel, ReplayConfig, Schedules, replay
from gate.store import MemoryStore
from gate.trace import from_rows
from gate.units import format_instant, parse_window

GiB = 2**30
MiB = 2**20
T4 = 15 * GiB
LONDON = ZoneInfo("Europe/London")
NIGHT = datetime(2026, 11, 12, 2, 30, tzinfo=UTC)
OWN = "chatterbox-tts-6b7c9d8f5-h4j7k"
PARK = ParkSettings(residue_bytes=1536 * MiB, max_parked_seconds=3600, timeout_seconds=15, cooldown_seconds=10)


def settings(**overrides) -> Settings:
    values = dict(
        namespace="tts",
        deployment="chatterbox-tts",
        floor_bytes=6 * GiB,
        total_bytes=T4,
        window=parse_window("02:00-06:00", LONDON),
        max_age_seconds=60,
        own_peak_bytes=int(4.5 * GiB),
        park=PARK,
    )
    values.update(overrides)
    return Settings(**values)


def ago(seconds: float) -> str:
    return format_instant(NIGHT - timedelta(seconds=seconds))


def reading(resident_gib: float, own_gib: float | None) -> Reading:
    pods = (PodUsage("immich", "immich-ml-7d9f8b6c5d-x2k4p", int(resident_gib * GiB)),)
    own = (PodUsage("tts", OWN, int(own_gib * GiB)),) if own_gib else ()
    return Reading(pods=pods + own, sampled_at=NIGHT)


SERVING = {"tts.gate/entered-at": ago(600), "tts.gate/entry-unattributed-bytes": "0"}
PARKED = {**SERVING, PARKED_AT: ago(300), YIELDED_AT: ago(300), YIELD_STREAK: "1", PARKS: "1"}


def decide(resident_gib, own_gib, annotations, control=Control.FULL, server=None, demand=None, **overrides):
    config = settings(**overrides)
    state = GateState.from_annotations(1, annotations)
    observation = reading(resident_gib, own_gib) if resident_gib is not None else Blind("no answer within 5s")
    view = assess(observation, config, NIGHT, state)
    return step("tick", view, state, config, demand, server, control)


# -- a wake: park, or scale to 0 ------------------------------------------------------------------------

# A T4 (15 GiB), floor 6 GiB, peak 4.5 GiB: the headroom is 1.5 GiB, and with park.residue 1.5 GiB
# the parked rule asks residents <= 12 GiB where serving asks residents <= 9 GiB. (With the server
# at its peak no exporter can show residents past 10.5 GiB: the rule bites while parked, or with
# a larger headroom.)
WAKES = [
    ("a wake the card holds the residue for: park", 10, {}, Control.FULL, Reason.PARKED),
    ("the sidecar parks too", 10, {}, Control.PARK, Reason.PARKED),
    ("a CronJob never parks: scale to 0", 10, {}, Control.NONE, Reason.NO_ROOM),
    ("a floor of 8.5 GiB: headroom 4 GiB and the residue do not fit", 10, {"floor_bytes": int(8.5 * GiB)}, Control.FULL, Reason.NO_ROOM),
    ("parking off", 10, {"park": None}, Control.FULL, Reason.NO_ROOM),
    ("a minute after entry: still loading, nothing to move", 10, {"startup_grace_seconds": 900}, Control.FULL, Reason.NO_ROOM),
]


@pytest.mark.parametrize(("resident", "overrides", "control", "reason"), [w[1:] for w in WAKES], ids=[w[0] for w in WAKES])
def test_a_wake_parks_when_the_card_holds_the_residue_and_the_caller_may(resident, overrides, control, reason):
    decision = decide(resident, 4.5, SERVING, control, **overrides)
    assert decision.reason is reason, decision.message
    if reason is Reason.PARKED:
        assert (decision.park, decision.replicas) == ("park", None)
        assert decision.annotations[PARKS] == "1" and decision.annotations[YIELD_STREAK] == "1"
        assert PARKED_AT not in decision.annotations  # written once the server confirmed it (carried_out)
    else:
        assert (decision.park, decision.replicas) == (None, 0)


def test_no_park_without_a_known_entry_blind_or_with_an_empty_queue():
    assert decide(10, 4.5, {}).reason is Reason.NO_ROOM  # replicas set by hand: it may still be loading
    assert decide(None, 4.5, SERVING).reason is Reason.BLIND
    assert decide(10, 4.5, SERVING, demand=Demand(0)).reason is Reason.PARKED  # no demand configured: the probe is ignored
    config = settings(demand=DemandSettings())  # with a queue reading 0, no return is worth a park
    state = GateState.from_annotations(1, SERVING)
    view = assess(reading(10, 4.5), config, NIGHT, state)
    assert step("tick", view, state, config, Demand(0), None, Control.FULL).reason is Reason.NO_ROOM


# -- parked: stay, unpark, or scale to 0 -------------------------------------------------------------------

SERVER_PARKED = ServerState("parked")
PARKED_CELLS = [
    ("residents 10 GiB, residue 1 GiB measured: stay parked", 10, 1, {}, SERVER_PARKED, Reason.STILL_PARKED, None),
    ("residents 13 GiB: no room even for the residue", 13, 1, {}, SERVER_PARKED, Reason.NO_ROOM, 0),
    ("a residue of 2 GiB measured, past park.residue", 10, 2, {}, SERVER_PARKED, Reason.RESIDUE, 0),
    ("the server's allocator keeps 2 GiB", 10, 1, {}, ServerState("parked", reserved_bytes=2 * GiB), Reason.RESIDUE, 0),
    ("the server says failed", 10, 1, {}, ServerState("failed"), Reason.PARK_FAILED, 0),
    ("the server says serving: it restarted", 10, 1, {}, ServerState("serving"), Reason.PARK_FAILED, 0),
    ("the server cannot be read", 10, 1, {}, ServerState(None, problem="connection refused"), Reason.PARK_FAILED, 0),
    ("the server is still parking (another loop's park)", 10, 1, {}, ServerState("parking"), Reason.STILL_PARKED, None),
    ("blind", None, 1, {}, SERVER_PARKED, Reason.BLIND, 0),
    ("parked past park.maxParked", 10, 1, {"park": replace(PARK, max_parked_seconds=240)}, SERVER_PARKED, Reason.MAX_PARKED, 0),
    ("parking turned off meanwhile", 10, 1, {"park": None}, SERVER_PARKED, Reason.PARK_OFF, 0),
    ("paused", 10, 1, {"enabled": False}, SERVER_PARKED, Reason.PAUSED, 0),
    ("outside the window", 10, 1, {"window": parse_window("04:00-06:00", LONDON)}, SERVER_PARKED, Reason.OUT_OF_WINDOW, 0),
    ("room back: the cool-down's clock starts", 3, 1, {}, SERVER_PARKED, Reason.STILL_PARKED, None),
    ("room for the floor but not the hysteresis: never asked", 9, 1, {}, SERVER_PARKED, Reason.STILL_PARKED, None),
]


@pytest.mark.parametrize(
    ("resident", "own", "overrides", "server", "reason", "replicas"), [c[1:] for c in PARKED_CELLS], ids=[c[0] for c in PARKED_CELLS]
)
def test_a_parked_server_stays_only_while_every_rule_holds(resident, own, overrides, server, reason, replicas):
    decision = decide(resident, own, PARKED, server=server, **overrides)
    assert (decision.reason, decision.replicas, decision.park) == (reason, replicas, None), decision.message
    if replicas == 0 and reason not in (Reason.OUT_OF_WINDOW, Reason.PAUSED):
        changes = decision.annotations
        assert changes[PARKED_AT] is None and changes[PARKED_SECONDS] == "300" and changes[YIELDED_AT] == format_instant(NIGHT)
        assert (changes.get(PARK_FAILURES) == "1") is (reason in (Reason.PARK_FAILED, Reason.RESIDUE))
        assert YIELD_STREAK not in changes  # the wake was counted when it parked
    if reason is Reason.STILL_PARKED and resident == 3:
        assert decision.annotations == {ROOM_SINCE: format_instant(NIGHT)}


def test_room_for_the_cool_down_unparks_as_an_entry_and_only_the_controller_does():
    cooled = {**PARKED, ROOM_SINCE: ago(11)}
    decision = decide(3, 1, cooled, server=SERVER_PARKED)
    assert (decision.command, decision.reason, decision.park, decision.replicas) == ("preflight", Reason.UNPARKED, "unpark", None)
    changes = decision.annotations
    assert changes[PARKED_AT] is None and changes[UNPARKED_AT] == format_instant(NIGHT) and changes[UNPARKS] == "1"
    assert changes[ROOM_SINCE] is None and changes[YIELDED_AT] is None and changes[PARKED_SECONDS] == "300"
    assert not decision.refused
    assert decide(3, 1, {**PARKED, ROOM_SINCE: ago(5)}, server=SERVER_PARKED).reason is Reason.STILL_PARKED
    sidecar = decide(3, 1, cooled, Control.PARK, server=SERVER_PARKED)
    assert (sidecar.reason, sidecar.park) == (Reason.STILL_PARKED, None) and "the controller unparks it" in sidecar.message


def test_before_the_exporter_has_seen_the_park_the_residue_counted_is_its_setting():
    # Parked 30 s ago: the exporter may still show the server at its peak (4.5 GiB); the rule counts
    # park.residue (1.5 GiB) instead, and a residue past it is only measured once the park settled.
    fresh = {**PARKED, PARKED_AT: ago(30)}
    assert decide(10, 4.5, fresh, server=SERVER_PARKED).reason is Reason.STILL_PARKED
    assert decide(12.5, 2, fresh, server=SERVER_PARKED).reason is Reason.NO_ROOM
    assert decide(10, 4.5, PARKED, server=SERVER_PARKED).reason is Reason.RESIDUE


def test_a_source_that_attributes_nothing_presumes_the_parked_server_no_more_than_its_residue():
    # dcgm alone: 4 GiB at entry, the server's 4.5 GiB came and a park took it down to 1 GiB; a
    # resident's 6 GiB more must count beyond the residue, not be masked up to the peak.
    config = settings()
    state = GateState.from_annotations(1, {**PARKED, "tts.gate/entry-unattributed-bytes": str(4 * GiB)})
    observation = Reading(unattributed_bytes=(4 + 1 + 6) * GiB, device_total_bytes=T4, sampled_at=NIGHT, attributes=False)
    view = assess(observation, config, NIGHT, state)
    assert view.presumed_own_bytes == PARK.residue_bytes and view.resident_bytes == 11 * GiB - PARK.residue_bytes
    serving = GateState.from_annotations(1, {**SERVING, "tts.gate/entry-unattributed-bytes": str(4 * GiB)})
    assert assess(observation, config, NIGHT, serving).presumed_own_bytes == int(4.5 * GiB)


def test_the_parks_length_from_a_clock_far_ahead_cannot_be_trusted():
    ahead = {**PARKED, PARKED_AT: format_instant(NIGHT + timedelta(minutes=5))}
    assert decide(10, 1, ahead, server=SERVER_PARKED).reason is Reason.MAX_PARKED
    nearly = {**PARKED, PARKED_AT: format_instant(NIGHT + timedelta(seconds=2))}  # another process's clock, 2 s ahead
    assert decide(10, 1, nearly, server=SERVER_PARKED).reason is Reason.STILL_PARKED


def test_the_queue_empty_for_idle_after_ends_a_park():
    config = settings(demand=DemandSettings(idle_after_seconds=300))
    state = GateState.from_annotations(1, {**PARKED, IDLE_SINCE: ago(301)})
    view = assess(reading(10, 1), config, NIGHT, state)
    assert step("tick", view, state, config, Demand(0), SERVER_PARKED, Control.FULL).reason is Reason.IDLE
    started = GateState.from_annotations(1, PARKED)
    decision = step("tick", view, started, config, Demand(0), SERVER_PARKED, Control.FULL)
    assert decision.reason is Reason.STILL_PARKED and decision.annotations == {IDLE_SINCE: format_instant(NIGHT)}


def test_with_no_replicas_a_park_left_in_the_lease_means_nothing():
    state = GateState.from_annotations(0, PARKED)
    assert not state.parked
    decision = decide_tick(assess(reading(3, None), settings(), NIGHT, state), state, settings(), control=Control.FULL)
    assert decision.reason is Reason.COOLING_DOWN and decision.park is None


# -- the server's answer ---------------------------------------------------------------------------------


def test_what_the_servers_answer_makes_of_a_park_or_an_unpark():
    state = GateState.from_annotations(1, SERVING)
    park = decide(10, 4.5, SERVING)
    done = carried_out(park, state, settings(), NIGHT, ParkReport(2.94, reserved_bytes=300 * MiB), None)
    assert done.park == "park" and done.replicas is None
    assert done.annotations[PARKED_AT] == format_instant(NIGHT) and done.annotations[LAST_PARK_SECONDS] == "2.9"
    left = carried_out(park, state, settings(), NIGHT, ParkReport(2.9, reserved_bytes=2 * GiB), None)
    assert (left.reason, left.replicas, left.annotations[PARK_FAILURES]) == (Reason.RESIDUE, 0, "1")
    failed = carried_out(park, state, settings(), NIGHT, None, "the control port: it passed its deadline (504; the server is now failed)")
    assert (failed.reason, failed.replicas) == (Reason.PARK_FAILED, 0) and "504" in failed.message
    assert failed.annotations[YIELD_STREAK] == "1" and failed.annotations[YIELDED_AT] == format_instant(NIGHT)
    parked = GateState.from_annotations(1, {**PARKED, ROOM_SINCE: ago(11)})
    unpark = decide(3, 1, {**PARKED, ROOM_SINCE: ago(11)}, server=SERVER_PARKED)
    lost = carried_out(unpark, parked, settings(), NIGHT, None, "connection refused")
    assert (lost.reason, lost.replicas) == (Reason.PARK_FAILED, 0)
    assert lost.annotations[PARKED_AT] is None and lost.annotations[UNPARKED_AT] is None and lost.annotations[PARKED_SECONDS] == "300"


# -- the cycle's write order -----------------------------------------------------------------------------


class StandInServer:
    """A target whose scale, park and unpark are logged in order, with the store's writes
    (`journal`, shared with `JournalStore`); a park or an unpark raises `problem` when set."""

    def __init__(self, journal: list[str], replicas: int = 1, problem: str | None = None, during_park=None):
        self.journal, self.replicas, self.problem, self.during_park = journal, replicas, problem, during_park
        self.phase = "serving"

    def read(self) -> Scale:
        return Scale(self.replicas, 7)

    def scale(self, replicas: int) -> int:
        self.journal.append(f"scale {replicas}")
        self.replicas = replicas
        return replicas

    def record(self, reason: str, message: str, warning: bool = False) -> None:
        self.journal.append(f"event {reason}")

    def _op(self, op: str) -> ParkReport:
        self.journal.append(op)
        if self.during_park is not None:
            self.during_park()
        if self.problem:
            raise RuntimeError(self.problem)
        self.phase = "parked" if op == "park" else "serving"
        return ParkReport(0.5)

    def park(self) -> ParkReport:
        return self._op("park")

    def unpark(self) -> ParkReport:
        return self._op("unpark")

    def server_state(self) -> ServerState:
        self.journal.append("state")
        return ServerState(self.phase)


class JournalStore(MemoryStore):
    def __init__(self, journal: list[str], annotations):
        super().__init__(annotations)
        self.journal = journal

    def put(self, read, annotations, dry_run=False):
        stored = super().put(read, annotations, dry_run)
        self.journal.append("put")
        return stored


def run(resident, own, annotations, control=Control.FULL, **target):
    journal: list[str] = []
    server = StandInServer(journal, **target)
    if annotations.get(PARKED_AT):
        server.phase = "parked"
    store = JournalStore(journal, annotations)
    outcome = cycle.cycle("tick", settings(), store, server, NIGHT, lambda: reading(resident, own), control=control)
    return outcome, journal, store, server


def test_a_park_parks_first_and_records_after():
    outcome, journal, store, _ = run(10, 4.5, SERVING)
    assert journal == ["park", "put", "event YieldParked"]
    assert store.annotations[PARKED_AT] == format_instant(NIGHT) and store.annotations[LAST_PARK_SECONDS] == "0.5"
    assert outcome.park_call == cycle.ParkCall("park", 0.5) and cycle.parked_after(outcome)


def test_a_park_that_fails_scales_to_0_at_once_then_records_the_yield():
    outcome, journal, store, server = run(10, 4.5, SERVING, problem="refused (409; the server is unparking)")
    assert journal == ["park", "scale 0", "put", "event YieldParkFailed"] and server.replicas == 0
    assert outcome.decision.reason is Reason.PARK_FAILED and "409" in outcome.decision.message
    assert store.annotations[PARK_FAILURES] == "1" and PARKED_AT not in store.annotations and not cycle.parked_after(outcome)


def test_an_unpark_writes_its_intent_first_reads_the_parked_servers_state_and_fails_to_0():
    cooled = {**PARKED, ROOM_SINCE: ago(11)}
    _, journal, store, _ = run(3, 1, cooled)
    assert journal == ["state", "put", "unpark", "event PreflightUnparked"] and PARKED_AT not in store.annotations
    _, journal, store, server = run(3, 1, cooled, problem="connection reset by the peer")
    assert journal == ["state", "put", "unpark", "scale 0", "put", "event YieldParkFailed"] and server.replicas == 0
    assert PARKED_AT not in store.annotations and UNPARKED_AT not in store.annotations and store.annotations[PARK_FAILURES] == "1"


def test_the_watchdogs_veto_stops_an_unpark_and_a_caller_that_cannot_park_never_asks():
    class Vetoed:
        def entering(self):
            from contextlib import nullcontext

            return nullcontext(False)

    journal: list[str] = []
    server = StandInServer(journal)
    server.phase = "parked"
    store = JournalStore(journal, {**PARKED, ROOM_SINCE: ago(11)})
    outcome = cycle.cycle("tick", settings(), store, server, NIGHT, lambda: reading(3, 1), veto=Vetoed(), control=Control.FULL)
    assert "unpark" not in journal and "not unparking: the watchdog stepped in" in outcome.warnings[0]
    _, journal, _, server = run(10, 4.5, SERVING, Control.NONE)
    assert "park" not in journal and "state" not in journal and server.replicas == 0


def test_a_park_during_the_watchdogs_give_back_ends_with_the_card_back_and_nothing_parked():
    """The loop's park is in flight when the watchdog gives the card back (its own client, the same
    Deployment): the park's answer and record come after the scale to 0, and nothing that follows
    reads a park, unparks, or takes the card back before its cool-down."""
    journal: list[str] = []
    store = JournalStore(journal, SERVING)
    server = StandInServer(journal)
    server.during_park = lambda: cycle.give_back(settings(), store, server, NIGHT, "no decision for 25s (bound 25s)")
    outcome = cycle.cycle("tick", settings(), store, server, NIGHT, lambda: reading(10, 4.5), control=Control.FULL)
    assert journal[:3] == ["park", "scale 0", "put"] and server.replicas == 0
    state = GateState.from_annotations(server.replicas, store.annotations)
    assert not state.parked and outcome.decision.reason is Reason.PARKED
    later = cycle.cycle("tick", settings(), store, server, NIGHT + timedelta(seconds=10), lambda: reading(3, None), control=Control.FULL)
    assert later.decision.reason is Reason.COOLING_DOWN and server.replicas == 0 and journal.count("unpark") == 0


# -- a night, replayed -------------------------------------------------------------------------------------

T = datetime(2026, 11, 12, 2, 0, tzinfo=UTC)


def night(wake=(8, 12), resident_gib=10.0):
    rows = {}
    for step_ in range(-4, 22 * 4):
        t = T + timedelta(seconds=15 * step_)
        minute = step_ / 4
        pods = [PodUsage("res", "a-7d9f8b6c5d-x2k4p", 3 * GiB)]
        if wake[0] <= minute < wake[1]:
            pods.append(PodUsage("res", "b-7d9f8b6c5d-x2k4p", int((resident_gib - 3) * GiB)))
        rows[t] = pods
    return from_rows(rows, "hand")


def replay_config(park: ParkSettings | None = PARK) -> ReplayConfig:
    config = settings(window=parse_window("02:00-02:20", ZoneInfo("UTC")), cooldown_seconds=10, hysteresis_bytes=0, entry_margin_seconds=0)
    pod = PodModel(int(4.5 * GiB), 45, 60, 5, residue_bytes=GiB, park_seconds=3, unpark_seconds=5)
    schedules = Schedules("0 2 * * *", None, None, "20 2 * * *", 10, 10)
    return ReplayConfig("gate", replace(config, park=park), schedules, pod, realtime_factor=0.5)


def test_a_wake_parks_and_room_unparks_in_seconds_by_hand():
    parked = replay(night(), replay_config())
    # The controller ticks every 10 s: it sees the 02:08 wake at 02:08:00 and parks; room is back
    # at 02:12, its cool-down's clock starts at 02:12:00 and the unpark comes at 02:12:10.
    assert [(a.time, a.replicas, a.reason, a.state) for a in parked.actions] == [
        (T, 1, "entered", "serving"),
        (T + timedelta(minutes=8), 1, "parked", "parked"),
        (T + timedelta(minutes=12, seconds=10), 1, "unparked", "serving"),
        (T + timedelta(minutes=20), 0, "out-of-window", None),
    ]
    [n] = parked.nights
    # Baked 02:01:45-02:08:00 (375 s) and from 02:12:15, the unpark's end, to 02:20 (465 s).
    assert (n.bake_seconds, n.parks, n.unparks, n.entries) == (375 + 465, 1, 1, 1)
    # Parked from 02:08:03 (the park's end) to 02:12:10; the 3 s of the park are breach.
    assert (n.parked_seconds, n.parked_outside_rule_seconds, n.breach_seconds) == (247, 0, 3)
    plain = replay(night(), replay_config(None)).nights[0]
    assert n.bake_seconds > plain.bake_seconds and plain.parks == 0
    # Chunks of 8 s at 0.5: 4 s of synthesis each; a stretch's last partial chunk is lost.
    assert n.audio_seconds == (375 // 4 + 465 // 4) * 8


def test_a_resident_that_outgrows_the_parked_rule_gets_the_card_within_an_interval_and_the_release():
    parked = replay(night(resident_gib=10), replay_config())
    outgrown = replay(night(resident_gib=12.8), replay_config())  # 15 - 12.8 < 1 GiB residue + 1.5 GiB headroom
    assert parked.nights[0].parks == 1 and outgrown.nights[0].parks == 0  # never parked outside the rule to begin with
    assert outgrown.nights[0].parked_outside_rule_seconds == 0


def test_replay_cli_parks_writes_the_state_and_refuses_a_bad_real_time_factor(tmp_path):
    from gate.trace import to_csv

    path = tmp_path / "night.csv"
    path.write_text(to_csv(night()))
    actions = tmp_path / "actions.jsonl"
    args = ["replay", str(path), "--park", "--tts-residue", "1GiB", "--tts-park", "3s", "--tts-unpark", "5s"]
    result = CliRunner().invoke(app, [*args, "--window", "02:00-02:20", "--timezone", "UTC", "--actions-out", str(actions), "-o", "json"])
    assert result.exit_code == 0, result.stderr
    [summary] = json.loads(result.stdout)
    assert summary["parks"] == 1 and summary["unparks"] == 1 and summary["parked_outside_rule_seconds"] == 0
    states = [json.loads(line).get("state") for line in actions.read_text().splitlines()]
    assert states == ["serving", "parked", "serving", None]
    refused = CliRunner().invoke(app, ["replay", str(path), "--rtf", "0"])
    assert refused.exit_code == 2 and refused.stderr.strip().count("\n") == 0 and "real-time factor '0'" in refused.stderr


# -- the command line ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--control-url", "ftp://127.0.0.1:8005"], "invalid control URL 'ftp://127.0.0.1:8005': expected http://HOST:PORT"),
        (["--control-url", "http://127.0.0.1"], "invalid control URL 'http://127.0.0.1': expected http://HOST:PORT"),
        (["--control-url", "http://127.0.0.1:8005", "--control-token-file", "/nonexistent/token"], "cannot read the control token file"),
    ],
)
def test_a_loop_refuses_a_control_port_it_cannot_use_in_one_line(args, words, kubeapi, exporter, tmp_path):
    from conftest import live_env

    env = live_env(kubeapi, exporter, tmp_path)
    for loop in (["run"], ["guard", "--watch"]):
        result = CliRunner().invoke(app, [*loop, *args, "--iterations", "1", "--metrics-port", "0"], env=env)
        assert result.exit_code == 2 and words in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_gate_status_shows_the_park_and_tonights_parking(kubeapi, exporter, tmp_path):
    from conftest import live_env

    from gate.policy import LAST_UNPARK_SECONDS

    exporter.serve(
        "# TYPE gpu_pod_memory_used_bytes gauge\n"
        'gpu_pod_memory_used_bytes{namespace="immich",pod="immich-ml-7d9f8b6c5d-x2k4p",container="ml",process_name="python",pid="1"} '
        f"{10 * GiB}\n"
        f'gpu_pod_memory_used_bytes{{namespace="tts",pod="{OWN}",container="server",process_name="python3",pid="2"}} {GiB}\n'
    )
    kubeapi.scale_by_hand(1)
    kubeapi.set_state({**PARKED, PARKS: "2", UNPARKS: "1", PARK_FAILURES: "1", PARKED_SECONDS: "600", LAST_UNPARK_SECONDS: "4.1"})
    env = {**live_env(kubeapi, exporter, tmp_path), "GATE_PARK": "true"}
    result = CliRunner().invoke(app, ["status"], env=env)
    assert result.exit_code == 0, result.stderr
    rows = {line.split("  ", 1)[0]: line.split("  ", 1)[1].strip() for line in result.stdout.splitlines() if "  " in line}
    assert rows["parked"] == "since 2026-11-12T02:25:00Z (5m00s of park.maxParked 1h00m00s)"
    assert rows["parking tonight"] == "2 park(s), 1 unpark(s), 1 failure(s), parked 10m00s (parks that ended)"
    assert rows["last park"] == "unpark 4.1s" and rows["guard would"].startswith("still-parked")


def test_the_loops_metrics_count_parks_their_seconds_and_failures():
    from gate.telemetry import WatchMetrics

    metrics = WatchMetrics()
    value = metrics.registry.get_sample_value
    parked, _, store, server = run(10, 4.5, SERVING)
    metrics.record(parked, settings(), 1000.0)
    assert value("gate_parks_total") == 1 and value("gate_parked") == 1
    assert value("gate_park_duration_seconds_count", {"op": "park"}) == 1 and value("gate_park_duration_seconds_sum", {"op": "park"}) == 0.5
    still = cycle.cycle("tick", settings(), store, server, NIGHT, lambda: reading(10, 1), control=Control.FULL)
    metrics.record(still, settings(), 1010.0)
    assert value("gate_parked_seconds_total") == 10 and value("gate_parked") == 1
    failed, *_ = run(10, 4.5, SERVING, problem="connection refused")
    metrics.record(failed, settings(), 1020.0)
    assert value("gate_park_failures_total", {"op": "park"}) == 1 and value("gate_park_failures_tonight") == 1
    assert value("gate_parked") == 0 and value("gate_parked_seconds_total") == 20


def test_a_cards_loop_labels_every_park_series_with_its_deployment():
    """With cards several gates share a namespace: the park series (the histogram's buckets
    included) carry the card's Deployment like every other gate series, and keep their type."""
    from prometheus_client import generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from gate.telemetry import WatchMetrics

    metrics = WatchMetrics(deployment="tts-node-b")
    parked, *_ = run(10, 4.5, SERVING)
    metrics.record(parked, settings(), 1000.0)
    families = {f.name: f for f in text_string_to_metric_families(generate_latest(metrics.registry).decode())}
    assert families["gate_park_duration_seconds"].type == "histogram"
    samples = [s for f in families.values() for s in f.samples]
    assert [s.name for s in samples if s.labels.get("deployment") != "tts-node-b"] == []
    names = {s.name for s in samples}
    assert {"gate_parked", "gate_parks_total", "gate_park_failures_tonight", "gate_try_until_timestamp_seconds"} <= names
    bucket = [s for s in samples if s.name == "gate_park_duration_seconds_bucket" and s.labels["le"] == "0.5"]
    assert [(s.labels, s.value) for s in bucket] == [({"deployment": "tts-node-b", "op": "park", "le": "0.5"}, 1.0)]
