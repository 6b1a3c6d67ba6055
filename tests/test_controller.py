"""`gate run`, the controller, end to end against the loopback exporter and kube-apiserver, and
the Lease it keeps the gate's state in."""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from exporter import Answer
from loopback import unused_port
from typer.testing import CliRunner

from gate.cli import app
from gate.controller import Liveness
from gate.kube.client import KubeClient
from gate.kube.config import load
from gate.live import write_state
from gate.policy import Settings

NIGHT = "2026-11-12T02:30:00Z"
TICKS = ["run", "--interval", "0.02s", "--metrics-port", "0"]


@pytest.fixture
def env(env) -> dict[str, str]:
    """The shared environment (conftest.py), with the loop's log lines as JSON to read back."""
    return {**env, "GATE_LOG_FORMAT": "json"}


def ticks(env: dict[str, str], n: int, *extra: str):
    return CliRunner().invoke(app, [*TICKS, "--iterations", str(n), *extra], env=env, catch_exceptions=False)


def logged(result) -> list[str]:
    return [json.loads(line)["reason"] for line in result.stderr.splitlines() if line.startswith("{")]


def test_the_controller_takes_the_card_and_holds_it_with_one_event(env, kubeapi):
    result = ticks(env, 5)
    assert result.exit_code == 0, result.output
    assert kubeapi.replicas() == 1
    assert logged(result) == ["entered", "holding"]  # a line on each change of reason, not each tick
    assert [e["reason"] for e in kubeapi.events] == ["PreflightEntered"]
    assert kubeapi.state()["tts.gate/entered-at"] == NIGHT


def test_a_refusal_is_one_event_however_many_ticks_repeat_it(env, kubeapi):
    result = ticks({**env, "GATE_FLOOR": "9GiB"}, 6)
    assert (result.exit_code, kubeapi.replicas()) == (0, 0)
    assert logged(result) == ["no-room"]
    assert [e["reason"] for e in kubeapi.events] == ["PreflightNoRoom"]


def test_the_kill_switch_gives_the_card_back_and_takes_it_no_more(env, kubeapi):
    kubeapi.add_deployment("tts", "chatterbox-tts", 1)
    result = ticks({**env, "GATE_ENABLED": "false"}, 4)
    assert result.exit_code == 0, result.output
    assert kubeapi.replicas() == 0
    # Paused, every tick decides `paused`: the first gives the card back, the rest take it nowhere.
    assert logged(result) == ["paused"]
    assert [e["reason"] for e in kubeapi.events] == ["DownPaused"]
    assert "PAUSED" in result.stderr


def test_re_entry_comes_on_the_first_tick_after_the_cool_down(env, kubeapi):
    kubeapi.set_state({"tts.gate/yielded-at": "2026-11-12T02:20:00Z", "tts.gate/room-since": "2026-11-12T02:28:00Z"})
    result = ticks(env, 1)
    assert (logged(result), kubeapi.replicas()) == (["entered"], 1)
    assert "tts.gate/yielded-at" not in kubeapi.state()


def test_an_empty_queue_gives_the_card_back_after_idle_after_and_a_failed_probe_never_does(env, kubeapi, exporter):
    kubeapi.add_deployment("tts", "chatterbox-tts", 1)
    kubeapi.set_state({"tts.gate/idle-since": "2026-11-12T02:20:00Z"})
    demand = {**env, "GATE_DEMAND_URL": exporter.base_url + "/api/tour/tts-queue"}
    exporter.answers["/api/tour/tts-queue"] = Answer(b"Not Found", status=404)  # an older tripit
    assert (logged(ticks(demand, 3)), kubeapi.replicas()) == (["holding"], 1)
    exporter.answers["/api/tour/tts-queue"] = Answer(b'{"queued": 0}', content_type="application/json")
    assert (logged(ticks(demand, 1)), kubeapi.replicas()) == (["idle"], 0)
    assert [e["reason"] for e in kubeapi.events] == ["YieldIdle"]


def test_work_waiting_takes_the_card_outside_the_window(env, kubeapi, exporter):
    exporter.answers["/q"] = Answer(b'{"queued": 27}', content_type="application/json")
    result = ticks({**env, "GATE_NOW": "2026-11-12T12:00:00Z", "GATE_DEMAND_URL": exporter.base_url + "/q"}, 2)
    assert (logged(result), kubeapi.replicas()) == (["entered", "holding"], 1)


def test_the_controller_serves_metrics_and_healthz_while_it_loops(env, kubeapi, exporter, monkeypatch):
    for key, value in {**env, "GATE_DEMAND_URL": exporter.base_url + "/q"}.items():
        monkeypatch.setenv(key, value)
    exporter.answers["/q"] = Answer(b'{"queued": 3}', content_type="application/json")
    port = unused_port()
    runner = threading.Thread(
        target=lambda: CliRunner().invoke(app, ["run", "--interval", "0.05s", "--metrics-port", str(port), "--iterations", "40"]),
        daemon=True,
    )
    runner.start()
    try:
        health = get_when_up(f"http://127.0.0.1:{port}/healthz")
        metrics = get_when_up(f"http://127.0.0.1:{port}/metrics", until='gate_demand_queued{deployment="chatterbox-tts"} 3.0')
    finally:
        runner.join(timeout=10)
    assert health == "ok\n"
    assert 'gate_demand_queued{deployment="chatterbox-tts"} 3.0' in metrics  # every series names the gate's Deployment
    assert 'gate_decisions_total{command="preflight",deployment="chatterbox-tts",reason="entered"} 1.0' in metrics
    assert "gate_last_run_timestamp_seconds" in metrics


def test_healthz_fails_once_the_loop_stops_completing_iterations(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    liveness = Liveness(interval_seconds=10)
    assert liveness.problem() is None
    now[0] += 60  # max(3 x 10 s, 60 s)
    assert liveness.problem() is None
    now[0] += 1
    assert "last completed an iteration 1m01s ago" in (liveness.problem() or "")
    liveness.succeeded()
    assert liveness.problem() is None


def test_a_metrics_port_in_use_is_bad_input(env, kubeapi):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            app, ["run", "--iterations", "1", "--metrics-address", "127.0.0.1", "--metrics-port", str(port)], env=env
        )
    assert result.exit_code == 2
    assert "cannot serve metrics on 127.0.0.1" in result.stderr


# -- the Lease ------------------------------------------------------------------------------------


def test_a_writer_that_lost_the_race_merges_its_change_into_what_won(kubeapi, tmp_path, monkeypatch):
    kubeapi.set_state({"tts.gate/room-since": "2026-11-12T02:29:00Z"})
    client = KubeClient(load(kubeapi.kubeconfig(Path(tmp_path) / "k", namespace="tts"), None))
    real_get = client.get_lease
    reads = []

    def get_then_lose_the_race(namespace, name):
        lease = real_get(namespace, name)
        if not reads:  # another gate run writes between this run's read and its write
            kubeapi.set_state({"tts.gate/room-since": "2026-11-12T02:29:00Z", "tts.gate/yielded-at": "2026-11-12T02:29:30Z"})
        reads.append(lease)
        return lease

    monkeypatch.setattr(client, "get_lease", get_then_lose_the_race)
    settings = Settings(namespace="tts", deployment="chatterbox-tts", floor_bytes=1)
    write_state(client, settings, {"tts.gate/room-since": None, "tts.gate/entered-at": NIGHT})
    assert len(reads) == 2 and len(kubeapi.calls("PUT")) == 2  # 409, read again, merged, written
    assert kubeapi.state() == {"tts.gate/yielded-at": "2026-11-12T02:29:30Z", "tts.gate/entered-at": NIGHT}


def test_the_lease_is_created_on_the_first_write(kubeapi, tmp_path):
    client = KubeClient(load(kubeapi.kubeconfig(Path(tmp_path) / "k", namespace="tts"), None))
    write_state(client, Settings(namespace="tts", deployment="chatterbox-tts", floor_bytes=1), {"tts.gate/entered-at": NIGHT})
    [lease] = kubeapi.leases.values()
    assert lease["metadata"]["name"] == "chatterbox-tts-gate"
    assert lease["metadata"]["annotations"] == {"tts.gate/entered-at": NIGHT}


def test_old_state_annotations_on_the_deployment_are_ignored(env, kubeapi):
    kubeapi.add_deployment("tts", "chatterbox-tts", 0, annotations={"tts.gate/yielded-at": "2026-11-12T02:29:00Z"})
    result = CliRunner().invoke(app, ["preflight"], env=env)
    assert (result.exit_code, kubeapi.replicas()) == (0, 1)  # no cool-down read from the Deployment


def get_when_up(url: str, until: str = "", timeout: float = 10.0) -> str:
    """GET `url` once it answers (and its body holds `until`: the first iteration has run)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                body = answer.read().decode()
            if until in body or time.monotonic() > deadline:
                return body
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise
        time.sleep(0.05)


def test_status_shows_the_demand_reading(env, kubeapi, exporter):
    exporter.answers["/q"] = Answer(b'{"queued": 4}', content_type="application/json")
    result = CliRunner().invoke(app, ["status"], env={**env, "GATE_DEMAND_URL": exporter.base_url + "/q"})
    assert result.exit_code == 0, result.output
    assert re.search(r"^demand\s+4 queued$", result.stdout, re.M), result.stdout
    exporter.answers["/q"] = Answer(b"", status=404)
    result = CliRunner().invoke(app, ["status", "-o", "json"], env={**env, "GATE_DEMAND_URL": exporter.base_url + "/q"})
    assert json.loads(result.stdout)["demand"] == {
        "queued": None,
        "problem": "demand from " + exporter.base_url[7:] + ": HTTP 404 Not Found",
    }


def test_a_lease_lost_race_is_the_stores_conflict_and_the_apis_409(kubeapi, tmp_path):
    from gate.kube.errors import KubeConflict
    from gate.lease import LeaseStore
    from gate.store import Conflict

    kubeapi.set_state({"tts.gate/room-since": NIGHT})
    store = LeaseStore(KubeClient(load(kubeapi.kubeconfig(Path(tmp_path) / "k", namespace="tts"), None)), "tts", "chatterbox-tts-gate")
    read = store.read()
    store.put(store.read(), {})
    with pytest.raises(Conflict) as lost:
        store.put(read, {"tts.gate/entered-at": NIGHT})
    assert isinstance(lost.value, KubeConflict) and "HTTP 409" in str(lost.value)  # still exit 7 for the commands


def test_a_lease_deleted_since_it_was_read_is_created_again_by_the_write(kubeapi, tmp_path):
    from gate.lease import LeaseStore

    kubeapi.set_state({"tts.gate/entered-at": "2026-11-12T02:29:00Z"})
    store = LeaseStore(KubeClient(load(kubeapi.kubeconfig(Path(tmp_path) / "k", namespace="tts"), None)), "tts", "chatterbox-tts-gate")
    read = store.read()
    kubeapi.delete_state()
    store.put(read, {"tts.gate/yielded-at": NIGHT})
    assert [c["method"] for c in kubeapi.calls() if "/leases" in c["path"]] == ["GET", "PUT", "POST"]  # 404, then created
    assert kubeapi.state() == {"tts.gate/yielded-at": NIGHT}
