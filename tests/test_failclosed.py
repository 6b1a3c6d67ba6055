"""Fail closed: a slow or odd peer never stalls or crashes the gate while it holds the card, and
its state survives races and crashes (issue 17). Each test is a row of docs/faults.md's
"Attacks" table (tests/faults.py keeps the two together).

Bounds asserted here are correctness bounds (the call returned, the card came back), generous
enough for a loaded CI machine; they are not performance figures.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import live_env
from exporter import Answer, FakeExporter, fixture
from faults import HEADER, IMMICH_ML_AWAKE, OUTAGE, STEADY
from kubeapi import FakeKubeAPI, Fault
from typer.testing import CliRunner

from gate import policy
from gate.cli import app
from gate.sources import SourceConfig, SourceError, make_source
from gate.sources.scrape import fetch
from gate.store import MemoryStore, StoredState, merge

ROOT = Path(__file__).resolve().parent.parent
GOOD = fixture("gpu-pod-exporter.prom")
CROWDED = GOOD + IMMICH_ML_AWAKE.encode()  # a resident wakes with 5 GiB: no room for a 6 GiB floor


def env_for(api: FakeKubeAPI, exporter: FakeExporter, tmp_path: Path, **extra: str) -> dict[str, str]:
    """conftest's live environment, with a 1 s timeout (the attacks' deadlines) and JSON logs."""
    return {**live_env(api, exporter, tmp_path), "GATE_TIMEOUT": "1s", "GATE_LOG_FORMAT": "json", **extra}


def gate(env: dict[str, str], *args: str):
    return CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)


def entries(api: FakeKubeAPI) -> int:
    """Scale-ups the API double carried out."""
    return sum(1 for call in api.calls("PATCH") if '"replicas": 1' in call["body"])


# -- deadlines that hold --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        Answer(GOOD * 4, trickle_seconds=0.5, piece=1),  # headers, then a byte every 0.5 s
        Answer(GOOD, header_trickle_seconds=0.5),  # the status line and headers, a byte every 0.5 s
        Answer(GOOD, delay_seconds=30),  # connected, then nothing
    ],
    ids=["body a byte every 0.5 s", "headers a byte every 0.5 s", "silent after connecting"],
)
def test_a_trickling_peer_cannot_hold_a_fetch_past_its_deadline(exporter, answer):
    exporter.answers["/metrics"] = answer
    started = time.monotonic()
    with pytest.raises(SourceError, match=r"within 1s"):
        fetch(exporter.url, 1.0, 4 * 2**20)
    assert time.monotonic() - started < 3.0  # the deadline held (1 s), not the peer's pace


def test_prometheus_three_queries_share_one_deadline(exporter):
    exporter.answers["/api/v1/query"] = Answer(b"{}", header_trickle_seconds=0.3)
    source = make_source("prometheus", SourceConfig(url=exporter.base_url, timeout_seconds=1.0))
    started = time.monotonic()
    with pytest.raises(SourceError, match="within"):
        source.read()
    assert time.monotonic() - started < 3.0


def test_a_trickling_exporter_makes_every_guard_yield(tmp_path):
    """`guard` (the CronJob), `guard --watch` (the sidecar) and `run` (the controller), holding."""
    for args in (["guard"], ["guard", "--watch", "--interval", "0.2s", "--iterations", "2", "--metrics-port", "0"]):
        with FakeExporter() as exporter, FakeKubeAPI(replicas=1) as api:
            exporter.answers["/metrics"] = Answer(GOOD * 4, trickle_seconds=0.5, piece=1)
            result = gate(env_for(api, exporter, tmp_path), *args)
            assert api.replicas() == 0, result.output
            assert result.exit_code == (3 if args == ["guard"] else 0), result.output
    with FakeExporter() as exporter, FakeKubeAPI(replicas=1) as api:
        exporter.answers["/metrics"] = Answer(GOOD * 4, trickle_seconds=0.5, piece=1)
        result = gate(env_for(api, exporter, tmp_path), "run", "--interval", "0.2s", "--iterations", "2", "--metrics-port", "0")
        assert (result.exit_code, api.replicas()) == (0, 0), result.output
        assert "no complete answer within 1s" in result.stderr


def test_a_trickling_demand_probe_is_no_action_within_its_deadline(exporter):
    from gate.sources.demand import DemandConfig, read

    exporter.answers["/q"] = Answer(b'{"queued": 3}', header_trickle_seconds=0.5)
    started = time.monotonic()
    demand = read(DemandConfig(exporter.base_url + "/q", timeout_seconds=1.0))
    assert demand.queued is None and "within 1s" in (demand.problem or "")
    assert time.monotonic() - started < 3.0


# -- every failure to read is blindness -----------------------------------------------------------


def test_an_impossible_timestamp_is_blindness_not_a_crash(exporter, kubeapi, tmp_path):
    kubeapi.add_deployment("tts", "chatterbox-tts", 1)
    exporter.serve(HEADER + 'gpu_pod_memory_used_bytes{namespace="a",pod="b"} 1048576 99999999999999999\n')
    env = env_for(kubeapi, exporter, tmp_path)
    result = gate(env, "guard")
    assert (result.exit_code, kubeapi.replicas()) == (3, 0), result.output
    assert "not a time" in result.stderr


def test_a_source_that_raises_anything_is_blindness(env, kubeapi, monkeypatch):
    """A bug or a surprise inside a source (here a TypeError) is a blind reading, so the guard
    holding the card yields; the one-shot command says why in one line and exits 3, not 1."""
    from gate.sources import gpu_pod_exporter

    def broken(self):
        raise TypeError("unsupported operand type(s) for +: 'int' and 'NoneType'")

    monkeypatch.setattr(gpu_pod_exporter.Source, "read", broken)
    kubeapi.add_deployment("tts", "chatterbox-tts", 1)
    result = gate(env, "guard")
    assert (result.exit_code, kubeapi.replicas()) == (3, 0), result.output
    assert "reading gpu-pod-exporter failed: TypeError" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_an_iteration_that_fails_unexpectedly_gives_the_card_back_and_the_loop_goes_on(env, kubeapi, monkeypatch):
    calls = []

    def broken(*args, **kwargs):
        calls.append(1)
        raise KeyError("surprise")

    monkeypatch.setitem(policy.DECIDERS, "guard", broken)
    kubeapi.add_deployment("tts", "chatterbox-tts", 1)
    result = gate({**env, "GATE_LOG_FORMAT": "json"}, "guard", "--watch", "--interval", "0.05s", "--iterations", "3", "--metrics-port", "0")
    assert (result.exit_code, kubeapi.replicas()) == (0, 0), result.output
    assert len(calls) >= 1 and "the iteration failed: KeyError" in result.stderr
    assert result.stderr.rstrip().endswith("guard --watch stopped")  # it carried on to the end


# -- the watchdog ---------------------------------------------------------------------------------


def test_the_watchdog_gives_the_card_back_when_the_loop_stops_deciding(env, kubeapi, monkeypatch):
    """The read path hangs (here, a source stuck for good, past any deadline of its own): within
    2 intervals + the timeout the watchdog scales to 0 through its own client and says why, and
    vetoes nothing else. The stuck iteration is released at the end."""
    from gate.sources import gpu_pod_exporter

    release = threading.Event()

    def stuck(self):
        release.wait(30)
        raise SourceError("released")

    monkeypatch.setattr(gpu_pod_exporter.Source, "read", stuck)
    kubeapi.add_deployment("tts", "chatterbox-tts", 1)
    outcome: dict[str, object] = {}

    def loop():
        outcome["result"] = gate({**env, "GATE_TIMEOUT": "0.2s"}, "run", "--interval", "0.1s", "--iterations", "1", "--metrics-port", "0")

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not (kubeapi.replicas() == 0 and kubeapi.events) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert kubeapi.replicas() == 0, "the watchdog did not give the card back"
    assert kubeapi.state().get(policy.YIELDED_AT), "the watchdog's yield is recorded"
    assert any(e["reason"] == "YieldWatchdog" for e in kubeapi.events)
    release.set()
    thread.join(15)
    result = outcome["result"]
    assert result.exit_code == 0 and "watchdog: yielding the card: no decision for" in result.stderr  # type: ignore[attr-defined]


def test_a_one_shot_guard_gives_the_card_back_before_its_job_deadline(exporter, kubeapi, tmp_path):
    """The CronJob guard's run is stuck on a slow Lease read (10 s, within its 20 s timeout): at
    GATE_DEADLINE it gives the card back and exits 3, long before activeDeadlineSeconds."""
    kubeapi.add_deployment("tts", "chatterbox-tts", 1)
    exporter.serve(GOOD)
    kubeapi.faults.append(Fault("GET", "/leases/", delay_seconds=10, then_serve=True, times=5))
    env = {**os.environ, **env_for(kubeapi, exporter, tmp_path, GATE_TIMEOUT="20s", GATE_DEADLINE="1s")}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "gate", "guard"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert (done.returncode, kubeapi.replicas()) == (3, 0), done.stderr
    assert "no decision within 1s (GATE_DEADLINE)" in done.stderr
    assert time.monotonic() - started < 9  # before the stuck read would have answered


# -- state that survives ----------------------------------------------------------------------------


def test_a_swinging_resident_with_two_conflicts_per_write_gets_one_entry(tmp_path):
    """The resident crosses the floor at every scrape and every Lease write loses two races
    first. Before: 10 entries and 10 yields in 30 s. Now: the entry's intent and the yield are
    recorded (each landing on its third try) and the cool-down holds: one entry."""
    with FakeExporter() as exporter, FakeKubeAPI(replicas=0) as api:
        exporter.cycle["/metrics"] = [Answer(GOOD), Answer(CROWDED)]
        api.set_state({})
        api.rival_writes_per_put = 2
        env = env_for(api, exporter, tmp_path, GATE_WINDOW="any", GATE_COOLDOWN="1s")
        del env["GATE_NOW"]  # real time, so that the cool-down runs
        result = gate(env, "run", "--interval", "0.02s", "--iterations", "60", "--metrics-port", "0")
        assert result.exit_code == 0, result.output
        assert entries(api) == 1, result.stderr
        assert api.replicas() == 0 and policy.YIELDED_AT in api.state()


def test_a_controller_retry_never_undoes_a_fresh_yield_by_another_writer():
    """Between the controller's read and its write, a guard CronJob yielded: the controller's
    write (clearing a room-since) loses the race, and the merge keeps the newer yielded-at."""
    store = MemoryStore({policy.ROOM_SINCE: "2026-11-12T02:29:00Z"})
    read = store.read()
    rival = store.read()
    store.put(rival, {**rival.annotations, policy.YIELDED_AT: "2026-11-12T02:29:30Z"})
    merge(store, read, {policy.ROOM_SINCE: None, policy.YIELDED_AT: None, policy.ENTERED_AT: "2026-11-12T02:29:40Z"})
    assert store.annotations == {policy.YIELDED_AT: "2026-11-12T02:29:30Z", policy.ENTERED_AT: "2026-11-12T02:29:40Z"}


def test_of_two_yields_the_later_stands():
    store = MemoryStore({})
    read = store.read()
    store.put(store.read(), {policy.YIELDED_AT: "2026-11-12T02:31:00Z"})
    merge(store, read, {policy.YIELDED_AT: "2026-11-12T02:30:00Z"})
    assert store.annotations == {policy.YIELDED_AT: "2026-11-12T02:31:00Z"}
    assert merge(MemoryStore({}), StoredState(), {policy.YIELDED_AT: "x"}).annotations == {policy.YIELDED_AT: "x"}


# The server entered at 02:29, its intent recorded at the Deployment's first generation.
ENTERED = {policy.ENTERED_AT: "2026-11-12T02:29:00Z", policy.ENTRY_UNATTRIBUTED: "0", policy.ENTRY_GENERATION: "1"}


def _kill_between_the_writes(tmp_path: Path, command: str, replicas: int, floor: str, hang: str, state: dict[str, str]) -> FakeKubeAPI:
    """Run `command` in a process and SIGKILL it once its first write landed and while its
    second hangs (`hang`: the path of the call held back)."""
    exporter = FakeExporter().__enter__()
    api = FakeKubeAPI(replicas=replicas).__enter__()
    exporter.serve(GOOD)
    api.set_state(state)
    api.faults.append(Fault("PUT" if hang == "lease" else "PATCH", "/leases/" if hang == "lease" else "/scale$", delay_seconds=30, times=1))
    env = {**os.environ, **env_for(api, exporter, tmp_path, GATE_FLOOR=floor)}
    process = subprocess.Popen([sys.executable, "-m", "gate", command], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = "PATCH" if hang == "lease" else "PUT"
    deadline = time.monotonic() + 30
    while not (api.calls(first) and api.calls("PUT" if hang == "lease" else "PATCH")) and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    exporter.__exit__()
    return api


def test_a_kill_between_a_yield_and_its_record_changes_no_later_decision(tmp_path):
    """guard scales to 0 and is killed before its yield reaches the Lease: every later preflight
    decides exactly as after a recorded yield (the same cool-down, then the same entry)."""
    killed = _kill_between_the_writes(tmp_path / "killed", "guard", 1, "9GiB", hang="lease", state=ENTERED)
    assert killed.replicas() == 0 and killed.state() == ENTERED  # the yield is not recorded
    recorded = FakeKubeAPI(replicas=1).__enter__()
    recorded.set_state(ENTERED)
    with FakeExporter() as exporter:
        exporter.serve(GOOD)
        assert gate(env_for(recorded, exporter, tmp_path / "recorded", GATE_FLOOR="9GiB"), "guard").exit_code == 0
        assert sorted(recorded.state()) == [policy.YIELD_STREAK, policy.YIELDED_AT]
        killed.faults.clear()
        later: dict[str, list[tuple[str, int | None]]] = {"killed": [], "recorded": []}
        for when in ("02:31:00", "02:31:09", "02:31:10", "02:31:20"):
            for name, api in (("killed", killed), ("recorded", recorded)):
                env = env_for(api, exporter, tmp_path / "later", GATE_NOW=f"2026-11-12T{when}Z")
                result = gate({**env, "GATE_OUTPUT": "json"}, "preflight")
                later[name].append((json.loads(result.stdout)["decision"]["reason"], api.replicas()))
    killed.__exit__()
    recorded.__exit__()
    assert later["killed"] == later["recorded"]
    assert later["recorded"] == [("cooling-down", 0), ("cooling-down", 0), ("entered", 1), ("already-up", 1)]


def test_a_kill_between_an_entrys_intent_and_its_scale_leaves_a_harmless_intent(tmp_path):
    """preflight records its entry and is killed before the scale-up lands: the next preflight
    takes the card, with no cool-down (the Deployment's generation never moved)."""
    api = _kill_between_the_writes(tmp_path, "preflight", 0, "6GiB", hang="scale", state={})
    try:
        assert api.replicas() == 0 and policy.ENTERED_AT in api.state()
        api.faults.clear()
        with FakeExporter() as exporter:
            exporter.serve(GOOD)
            result = gate({**env_for(api, exporter, tmp_path / "next"), "GATE_OUTPUT": "json"}, "preflight")
        assert (json.loads(result.stdout)["decision"]["reason"], api.replicas()) == ("entered", 1)
    finally:
        api.__exit__()


def test_an_unrecorded_yield_reads_as_a_yield_only_once_the_deployment_moved():
    entered = {policy.ENTERED_AT: "2026-11-12T02:29:00Z", policy.ENTRY_GENERATION: "4"}
    assert policy.GateState.from_annotations(0, entered, generation=4).yielded_at is None  # intent never carried out
    moved = policy.GateState.from_annotations(0, entered, generation=6)
    assert moved.yield_unrecorded and moved.yielded_at is not None
    assert policy.GateState.from_annotations(0, {policy.ENTERED_AT: "2026-11-12T02:29:00Z"}).yield_unrecorded  # unknown: a yield
    assert policy.GateState.from_annotations(1, entered, generation=6).yielded_at is None  # holding: no yield


def test_the_windows_end_gives_the_card_back_even_when_its_state_cannot_be_written(env, kubeapi):
    kubeapi.add_deployment("tts", "chatterbox-tts", 1)
    kubeapi.set_state(ENTERED)
    kubeapi.faults.append(Fault("PUT", "/leases/", status=503, times=10))
    result = gate({**env, "GATE_OUTPUT": "json"}, "down")
    assert (result.exit_code, kubeapi.replicas()) == (0, 0), result.output
    assert "state could not be written" in result.stderr


def test_of_two_counts_the_larger_stands():
    store = MemoryStore({policy.YIELD_STREAK: "1"})
    read = store.read()
    store.put(store.read(), {policy.YIELD_STREAK: "3"})
    merge(store, read, {policy.YIELD_STREAK: "2", policy.YIELDED_AT: "2026-11-12T02:30:00Z"})
    assert store.annotations == {policy.YIELD_STREAK: "3", policy.YIELDED_AT: "2026-11-12T02:30:00Z"}


# -- a vanished Lease, a failed give-back, a jumping clock (issue 24) --------------------------------


class Controller:
    """`gate run` in a thread of this process (its watchdog and clock are this process's), for the
    attacks that act on the API double or the exporter while the loop runs."""

    def __init__(self, env: dict[str, str], *args: str):
        self.result = None
        self.thread = threading.Thread(target=lambda: setattr(self, "result", gate(env, "run", "--metrics-port", "0", *args)), daemon=True)
        self.thread.start()

    def finish(self):
        self.thread.join(60)
        assert self.result is not None, "the controller did not finish"
        return self.result


def until(condition, seconds: float = 10.0) -> float:
    """Wait for `condition`; how long it took (monotonic). Fails after `seconds`."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < seconds, "the condition never came"
        time.sleep(0.01)
    return time.monotonic() - started


def test_a_lease_deleted_before_a_yields_record_is_created_again_and_the_loop_goes_on_deciding(tmp_path):
    """A resident wakes; the controller scales to 0 and the Lease is deleted before the yield's
    record (its PUT meets 404). The record creates the Lease again and the loop goes on deciding:
    an operator scaling the server back to 1 with the resident still awake is back at 0 within
    one interval and an iteration's calls (bound asserted: 2 s, at a 0.05 s interval). Before:
    every later iteration failed on the pending record, and the card stayed at 1."""
    with FakeExporter() as exporter, FakeKubeAPI(replicas=1) as api:
        exporter.serve(CROWDED)
        api.set_state(ENTERED)
        api.faults.append(Fault("PATCH", "/scale$", then_serve=True, meanwhile=api.delete_state))
        loop = Controller(env_for(api, exporter, tmp_path, GATE_TIMEOUT="0.5s"), "--interval", "0.05s", "--iterations", "60")
        until(lambda: api.replicas() == 0 and policy.YIELDED_AT in api.state())
        assert api.calls("POST") and api.state()[policy.YIELD_STREAK] == "1"  # the Lease, created again with the yield
        api.scale_by_hand(1)
        assert until(lambda: api.replicas() == 0) < 2.0
        result = loop.finish()
    assert result.exit_code == 0 and "Traceback" not in result.output


def test_the_watchdog_reads_the_card_held_while_the_loop_cannot_decide(tmp_path):
    """The loop's last decision left the card at 0; then every Lease read fails, so no iteration
    decides, and an operator scales the server to 1 with a resident awake. The watchdog reads the
    Deployment through its own client and gives the card back within its bound (2 intervals +
    the timeout, 0.4 s here, + a check + its two calls; asserted: 5 s). Before: the watchdog
    believed the loop's last word (not holding) and never stepped in."""
    with FakeExporter() as exporter, FakeKubeAPI(replicas=0) as api:
        exporter.serve(CROWDED)
        api.set_state({})
        loop = Controller(env_for(api, exporter, tmp_path, GATE_TIMEOUT="0.3s"), "--interval", "0.05s", "--iterations", "50")
        until(lambda: len(api.calls("GET")) >= 4)  # an iteration has decided: not holding
        api.faults.append(Fault("GET", "/leases/", status=500, times=OUTAGE, headers={"Retry-After": "0"}))
        api.scale_by_hand(1)
        assert until(lambda: api.replicas() == 0) < 5.0
        result = loop.finish()
    assert "watchdog: yielding the card: no decision for" in result.stderr
    assert any(e["reason"] == "YieldWatchdog" for e in api.events)


def test_an_entry_in_flight_is_vetoed_when_the_watchdogs_give_back_fails(tmp_path, monkeypatch):
    """The loop reads room, then stalls (a starved CPU, a parse past its deadline) past the
    watchdog's bound while a resident wakes. The watchdog steps in; its read and its scale-down
    get 503. The stalled iteration's entry, decided from the old reading, must not be made, and
    no later one either: the exporter says no room. Before: the failed give-back reopened the
    veto and the entry went through (3 of 3 trials in the issue)."""
    from gate.sources import gpu_pod_exporter

    real_read = gpu_pod_exporter.Source.read
    stalls = []

    def read_then_stall(self):
        reading = real_read(self)
        if not stalls:
            stalls.append(1)
            exporter.serve(CROWDED)  # the resident wakes
            # The watchdog's read and scale-down fail (503, retried at once) for as long as the stall lasts.
            for path in ("/deployments/chatterbox-tts$", "/scale$"):
                api.faults.append(Fault("*", path, status=503, times=OUTAGE, headers={"Retry-After": "0"}))
            time.sleep(1.5)  # past the bound: 2 x 0.1 s + 0.5 s
            api.faults.clear()
        return reading

    monkeypatch.setattr(gpu_pod_exporter.Source, "read", read_then_stall)
    with FakeExporter() as exporter, FakeKubeAPI(replicas=0) as api:
        exporter.serve(GOOD)
        api.set_state({})
        result = gate(
            env_for(api, exporter, tmp_path, GATE_TIMEOUT="0.5s"), "run", "--interval", "0.1s", "--iterations", "4", "--metrics-port", "0"
        )
        assert (result.exit_code, entries(api), api.replicas()) == (0, 0, 0), result.stderr
    assert "watchdog: could not give the card back" in result.stderr
    assert "not taking the card: the watchdog stepped in" in result.stderr


def test_a_wall_clock_jump_mid_cool_down_restarts_it(tmp_path, monkeypatch):
    """The controller yields to a resident; room returns; a second into a 3 s cool-down the wall
    clock jumps an hour ahead (the issue's case: +1 h three seconds into 10 s). The loop sees its
    wall clock move an hour against its monotonic clock and restarts the cool-down as a wake
    would: no entry before the cool-down has run (3 s of room; the stored instants are whole
    seconds, so the restarted one ends 2-3 s after the jump). Before: the stored room-since
    looked an hour old and the gate entered at once."""
    from gate.options import Options

    offset = [timedelta(0)]
    monkeypatch.setattr(Options, "clock", lambda self: datetime.now(UTC) + offset[0])
    with FakeExporter() as exporter, FakeKubeAPI(replicas=1) as api:
        exporter.serve(HEADER + STEADY + IMMICH_ML_AWAKE)  # no room, and no server memory yet
        api.set_state({})
        env = env_for(api, exporter, tmp_path, GATE_WINDOW="any", GATE_COOLDOWN="3s")
        del env["GATE_NOW"]  # the clock the test moves
        loop = Controller(env, "--interval", "0.1s", "--iterations", "70")
        until(lambda: api.replicas() == 0)
        exporter.serve(GOOD)
        room = time.monotonic()
        time.sleep(1.0)
        offset[0] = timedelta(hours=1)
        until(lambda: api.replicas() == 1)
        entered = time.monotonic() - room
        result = loop.finish()
    assert entered >= 3.0, f"entered {entered:.2f}s after room returned, inside the 3 s cool-down: {result.stderr}"
    # The yield logs "no-room" and, if a tick runs before the test serves room, the preflight's
    # "no-room" again (its decision is another command's): repeats collapse.
    reasons = [json.loads(line)["reason"] for line in result.stderr.splitlines() if line.startswith("{")]
    assert [reason for i, reason in enumerate(reasons) if i == 0 or reason != reasons[i - 1]] == [
        "no-room",
        "cooling-down",
        "entered",
        "holding",
    ]
